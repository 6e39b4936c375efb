"""Read the text a classifier needs out of an uploaded file.

The type comes from the bytes, never from the name the user gave the file. Reading stops
once the character budget is filled, so a 500-page PDF costs about what its first pages do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pymupdf


class UnreadableFile(Exception):
    """The file cannot be turned into text; the message is shown to the user as is."""


@dataclass(frozen=True)
class Document:
    kind: str
    text: str
    page_count: int | None = None


_WHITESPACE = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def clean(text: str) -> str:
    text = _WHITESPACE.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def _read_pdf(path: Path, budget: int) -> Document:
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except Exception as exc:
        raise UnreadableFile(f"this PDF is damaged and cannot be opened ({exc})") from exc
    with doc:
        if doc.needs_pass:
            raise UnreadableFile("this PDF is encrypted with a password")
        parts: list[str] = []
        size = 0
        for page in doc:
            page_text = clean(page.get_text("text"))
            parts.append(page_text)
            size += len(page_text)
            if size >= budget:
                break
        return Document("pdf", "\n\n".join(parts)[:budget], doc.page_count)


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3:  # the read cut a character in two
            return data[: exc.start].decode("utf-8-sig")
        return data.decode("latin-1")


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return True
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return True
    if b"\x00" in head:
        return False
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    return controls / len(head) < 0.01


def read_document(path: Path, budget: int) -> Document:
    """Return the cleaned text of a file, at most `budget` characters of it."""
    with open(path, "rb") as fh:
        head = fh.read(8192)
    if not head:
        raise UnreadableFile("the file is empty")
    if head.lstrip()[:5] == b"%PDF-":
        return _read_pdf(path, budget)
    if _looks_like_text(head):
        with open(path, "rb") as fh:
            return Document("text", clean(_decode(fh.read(budget * 4)))[:budget])
    raise UnreadableFile("unsupported file type: only PDF and plain text can be read for now")
