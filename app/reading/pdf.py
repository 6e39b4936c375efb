"""PDF and the other paged formats PyMuPDF opens (EPUB, XPS, FB2, MOBI, SVG).

A page with (almost) no text layer that is mostly picture is a scan: its text comes from
OCR of the rendered page. Only the pages the budget needs are read, or rendered, and each
once, however many budgets the document is read for. MuPDF is not thread-safe, and reading
runs in worker threads: one document is open at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pymupdf
from PIL import Image

from . import ocr
from .budget import pick_pages
from .document import Document, Source, UnreadableFile

NAMES = {
    "pdf": "PDF",
    "epub": "EPUB book",
    "xps": "XPS document",
    "fb2": "FB2 book",
    "mobi": "MOBI book",
    "svg": "SVG drawing",
}
SCAN_TEXT_CHARS = 50  # a page with less text than this may be a scan (a stamp, a page number)
SCAN_IMAGE_COVER = 0.3  # ... if pictures cover this share of it
OCR_DPI = 200

_mupdf = threading.Lock()


@contextmanager
def open_paged(path: Path, kind: str) -> Iterator[Source]:
    name = NAMES[kind]
    with _mupdf:
        try:
            doc = pymupdf.open(path, filetype=kind)
        except Exception as exc:
            raise UnreadableFile(f"this {name} is damaged and cannot be opened ({exc})") from exc
        with doc:
            if doc.needs_pass:
                raise UnreadableFile(f"this {name} is encrypted with a password")
            if doc.page_count == 0:
                raise UnreadableFile(f"this {name} is damaged: it has no pages")
            yield _Pages(doc, kind)


class _Pages:
    """An open document's pages as far as they were read: each page's text layer, and a
    scanned page's OCR lines (ocr.Lines), so that no second budget reads a page again."""

    def __init__(self, doc: pymupdf.Document, kind: str):
        self.doc = doc
        self.kind = kind
        self.layers: dict[int, tuple[str, bool]] = {}  # a page's text layer; is it a scan
        self.scans: dict[tuple[int, bool], ocr.Lines] = {}

    def document(self, tokens: int) -> Document:
        broken: list[int] = []

        def read_page(index: int, chars: int, from_end: bool) -> str:
            try:
                return self._page_text(index, chars, from_end)
            except Exception:  # a damaged page; the others may still say enough
                broken.append(index + 1)
                return ""

        text, used = pick_pages(self.doc.page_count, read_page, tokens)
        if broken and not text:
            pages = ", ".join(map(str, broken))
            raise UnreadableFile(f"this {NAMES[self.kind]} is damaged: page {pages} cannot be read")
        return Document(self.kind, text, self.doc.page_count, used)

    def _page_text(self, index: int, chars: int, from_end: bool) -> str:
        if index not in self.layers:
            page = self.doc[index]
            text = page.get_text("text")
            scan = len(text.strip()) < SCAN_TEXT_CHARS and _image_cover(page) >= SCAN_IMAGE_COVER
            self.layers[index] = (text, scan)
        text, scan = self.layers[index]
        if not scan:
            return text
        if (index, from_end) not in self.scans:
            self.scans[index, from_end] = ocr.Lines(_picture(self.doc[index]), from_end)
        scanned = self.scans[index, from_end].text(chars)
        return scanned if len(scanned) > len(text.strip()) else text


def _picture(page: pymupdf.Page) -> Image.Image:
    """The page rendered for OCR."""
    zoom = min(OCR_DPI / 72, ocr.MAX_SIDE / max(page.rect.width, page.rect.height))
    pixmap = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
    return Image.frombytes("RGB", (pixmap.width, pixmap.height), pixmap.samples)


def _image_cover(page: pymupdf.Page) -> float:
    area = abs(page.rect) or 1.0
    pictures = (pymupdf.Rect(info["bbox"]) & page.rect for info in page.get_image_info())
    return sum(abs(rect) for rect in pictures) / area
