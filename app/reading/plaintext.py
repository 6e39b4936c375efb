"""Plain text, Markdown and CSV: read as they are, in whatever encoding they come."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .budget import budget_chars, cut
from .document import Document, Source

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


@contextmanager
def open_text(path: Path, kind: str) -> Iterator[Source]:
    with open(path, "rb") as fh:
        yield _TextFile(fh, kind)


class _TextFile:
    """A text file's start and end, read as far as the budgets asked for so far need."""

    def __init__(self, fh: BinaryIO, kind: str):
        self.fh = fh
        self.kind = kind
        self.size = fh.seek(0, 2)
        self.head = b""  # the file's first bytes
        self.tail, self.tail_at = b"", self.size  # its last bytes, from tail_at

    def document(self, tokens: int) -> Document:
        """The start of the file and, when it is too long to read whole, its end."""
        room = budget_chars(tokens) * BYTES_PER_CHAR
        data = self._head(room)
        if self.size <= room:
            return Document(self.kind, cut(decode(data), tokens))
        tail = self._tail(max(self.size - room // 2, room) // 2 * 2)  # even: UTF-16 is 2 bytes
        encoding = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}.get(data[:2], "utf-8")
        # The tail may start inside a character: cut() starts the ending on a new line anyway.
        ending = tail.decode(encoding, errors="replace")
        return Document(self.kind, cut(decode(data), tokens, ending))

    def _head(self, size: int) -> bytes:
        if len(self.head) < min(size, self.size):
            self.fh.seek(len(self.head))
            self.head += self.fh.read(size - len(self.head))
        return self.head[:size]

    def _tail(self, start: int) -> bytes:
        if start < self.tail_at:
            self.fh.seek(start)
            self.tail = self.fh.read(self.tail_at - start) + self.tail
            self.tail_at = start
        return self.tail[start - self.tail_at :]
