"""Plain text, Markdown and CSV: read as they are, in whatever encoding they come."""

from __future__ import annotations

from pathlib import Path

from .budget import budget_chars, cut
from .document import Document

# Bytes read per character of budget: room for multi-byte encodings and for whitespace that
# cleaning removes, without reading a whole large file.
BYTES_PER_CHAR = 4


def decode(data: bytes) -> str:
    """UTF-16 with a BOM, else UTF-8, else Latin-1; a read that cut the last UTF-8
    character in two is not taken for Latin-1."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3:
            return data[: exc.start].decode("utf-8-sig", errors="replace")
        return data.decode("latin-1")


def looks_like_text(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return True
    if b"\x00" in head:
        return False
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    return controls / len(head) < 0.01


def read_text(path: Path, kind: str, tokens: int) -> Document:
    """The start of the file and, when it is too long to read whole, its end."""
    room = budget_chars(tokens) * BYTES_PER_CHAR
    with open(path, "rb") as fh:
        data = fh.read(room)
        size = fh.seek(0, 2)
        if size <= room:
            return Document(kind, cut(decode(data), tokens))
        fh.seek(max(size - room // 2, room) // 2 * 2)  # even: UTF-16 characters are 2 bytes
        tail = fh.read()
    encoding = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}.get(data[:2], "utf-8")
    # The tail may start inside a character: cut() starts the ending on a new line anyway.
    return Document(kind, cut(decode(data), tokens, tail.decode(encoding, errors="replace")))
