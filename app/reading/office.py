"""Word (.docx): the paragraphs of word/document.xml, streamed so a long one costs little."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO
from xml.etree import ElementTree

from .budget import budget_chars, cut
from .document import Document, Source, UnreadableFile

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_BREAKS = {f"{_W}tab": "\t", f"{_W}br": "\n", f"{_W}cr": "\n"}


@contextmanager
def open_docx(path: Path) -> Iterator[Source]:
    try:
        with zipfile.ZipFile(path) as zf, zf.open("word/document.xml") as xml:
            yield _Paragraphs(xml)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, ElementTree.ParseError) as exc:
        raise UnreadableFile(f"this Word document is damaged and cannot be read ({exc})") from exc


class _Paragraphs:
    """The document's paragraphs, streamed as far as the budgets asked for so far need."""

    def __init__(self, xml: IO[bytes]):
        self.elements = ElementTree.iterparse(xml)
        self.paragraphs: list[str] = []
        self.sizes: list[int] = []  # the characters of the paragraphs up to each one
        self.ended = False

    def document(self, tokens: int) -> Document:
        """Paragraphs in document order, table cells included; stops at twice the budget."""
        limit = 2 * budget_chars(tokens)
        while not self.ended and (not self.sizes or self.sizes[-1] < limit):
            self._read_paragraph()
        count = next((n + 1 for n, size in enumerate(self.sizes) if size >= limit), len(self.sizes))
        return Document("docx", cut("\n".join(self.paragraphs[:count]), tokens))

    def _read_paragraph(self) -> None:
        for _, element in self.elements:
            if element.tag != f"{_W}p":
                continue
            text = "".join(
                node.text or "" if node.tag == f"{_W}t" else _BREAKS.get(node.tag, "")
                for node in element.iter()
            )
            element.clear()  # a text box's paragraphs are not read twice by the outer one
            self.paragraphs.append(text)
            self.sizes.append(len(text) + (self.sizes[-1] if self.sizes else 0))
            return
        self.ended = True
