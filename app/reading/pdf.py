"""PDF and the other paged formats PyMuPDF opens (EPUB, XPS, FB2, MOBI, SVG).

A page with (almost) no text layer that is mostly picture is a scan: its text comes from
OCR of the rendered page. Only the pages the budget needs are read, or rendered. MuPDF is not
thread-safe, and reading runs in worker threads: one document is read at a time.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pymupdf
from PIL import Image

from . import ocr
from .budget import pick_pages
from .document import Document, UnreadableFile

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


def read_paged(path: Path, kind: str, tokens: int) -> Document:
    with _mupdf:
        return _read(path, kind, tokens)


def _read(path: Path, kind: str, tokens: int) -> Document:
    name = NAMES[kind]
    try:
        doc = pymupdf.open(path, filetype=kind)
    except Exception as exc:
        raise UnreadableFile(f"this {name} is damaged and cannot be opened ({exc})") from exc
    with doc:
        if doc.needs_pass:
            raise UnreadableFile(f"this {name} is encrypted with a password")
        if doc.page_count == 0:
            raise UnreadableFile(f"this {name} is damaged: it has no pages")
        broken: list[int] = []

        def read_page(index: int, chars: int, from_end: bool) -> str:
            try:
                return _page_text(doc[index], chars, from_end)
            except Exception:  # a damaged page; the others may still say enough
                broken.append(index + 1)
                return ""

        text, used = pick_pages(doc.page_count, read_page, tokens)
        if broken and not text:
            pages = ", ".join(map(str, broken))
            raise UnreadableFile(f"this {name} is damaged: page {pages} cannot be read")
        return Document(kind, text, doc.page_count, used)


def _page_text(page: pymupdf.Page, chars: int, from_end: bool) -> str:
    text = page.get_text("text")
    if len(text.strip()) >= SCAN_TEXT_CHARS or _image_cover(page) < SCAN_IMAGE_COVER:
        return text
    zoom = min(OCR_DPI / 72, ocr.MAX_SIDE / max(page.rect.width, page.rect.height))
    pixmap = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
    image = Image.frombytes("RGB", (pixmap.width, pixmap.height), pixmap.samples)
    scanned = ocr.recognise(image, chars, from_end)
    return scanned if len(scanned) > len(text.strip()) else text


def _image_cover(page: pymupdf.Page) -> float:
    area = abs(page.rect) or 1.0
    pictures = (pymupdf.Rect(info["bbox"]) & page.rect for info in page.get_image_info())
    return sum(abs(rect) for rect in pictures) / area
