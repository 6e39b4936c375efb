"""Word (.docx): the paragraphs of word/document.xml, streamed so a long one costs little."""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.etree import ElementTree

from .budget import budget_chars, cut
from .document import Document, UnreadableFile

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_BREAKS = {f"{_W}tab": "\t", f"{_W}br": "\n", f"{_W}cr": "\n"}


def read_docx(path: Path, tokens: int) -> Document:
    """Paragraphs in document order, table cells included; stops at twice the budget."""
    paragraphs: list[str] = []
    size = 0
    try:
        with zipfile.ZipFile(path) as zf, zf.open("word/document.xml") as xml:
            for _, element in ElementTree.iterparse(xml):
                if element.tag != f"{_W}p":
                    continue
                text = "".join(
                    node.text or "" if node.tag == f"{_W}t" else _BREAKS.get(node.tag, "")
                    for node in element.iter()
                )
                element.clear()  # a text box's paragraphs are not read twice by the outer one
                paragraphs.append(text)
                size += len(text)
                if size >= 2 * budget_chars(tokens):
                    break
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, ElementTree.ParseError) as exc:
        raise UnreadableFile(f"this Word document is damaged and cannot be read ({exc})") from exc
    return Document("docx", cut("\n".join(paragraphs), tokens))
