"""OCR with RapidOCR (PP-OCR models in ONNX, shipped inside the PyPI package): offline, CPU.

The engine is loaded on first use (importing it costs a few hundred milliseconds) and used by
one thread at a time: it already spreads each page over every core. Recognising a line costs
far more than finding it, so lines are recognised only until the budget has enough text: the
steps of RapidOCR's own __call__ (rapidocr-onnxruntime 1.4.4, pinned) are run one by one, and
what they found is kept for a second budget (`Lines`).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from .budget import pick_pages
from .document import Document, Source, UnreadableFile

MAX_SIDE = 2000  # pixels; larger images are scaled down first (the models look no closer)
CHUNK = 12  # lines recognised at a time

_lock = threading.Lock()
_engine: Any = None

Line = tuple[list[list[float]], str]  # a line's box (four corners) and its text


class Lines:
    """The text of one image, its lines recognised from the top (or from the bottom) a chunk
    at a time as they are asked for, and kept: asked for more, it goes on where it stopped;
    asked for less, it gives the very lines a first read to that limit would have, since the
    chunks are the same whatever the limit. The picture goes once every line is recognised."""

    def __init__(self, image: Image.Image, from_end: bool = False):
        self.from_end = from_end
        self.image: Image.Image | None = _flatten(image)
        self.image.thumbnail((MAX_SIDE, MAX_SIDE))
        self.picture: Any = None  # the engine's copy, while lines are left to recognise
        self.boxes: Any = None  # every line found, in the order they are recognised
        self.chunks: list[list[Line]] = []  # the lines recognised, a chunk at a time

    def text(self, limit: int | None = None) -> str:
        """One line per row of text, left to right; with `limit`, only until there are that
        many characters."""
        with _lock:
            return _rows(list(self._lines(limit)))

    def _lines(self, limit: int | None) -> Iterator[Line]:
        size = 0
        for index in itertools.count():
            if index == len(self.chunks) and not self._recognise_next():
                return
            for box, text in self.chunks[index]:
                size += len(text)
                yield box, text
            if limit is not None and size >= limit:
                return

    def _recognise_next(self) -> bool:
        """Recognise the next chunk of lines; False when none is left."""
        engine = _load()
        if self.image is not None:  # find the lines first
            picture, _, _ = engine.preprocess(engine.load_img(self.image))
            self.picture, _ = engine.maybe_add_letterbox(picture, {})
            boxes, _ = engine.auto_text_det(self.picture)  # sorted top to bottom, left to right
            self.boxes = [] if boxes is None else boxes[::-1] if self.from_end else boxes
            self.image = None
        start = len(self.chunks) * CHUNK
        if start >= len(self.boxes):
            self.picture = None
            return False
        chunk = self.boxes[start : start + CHUNK]
        crops, _, _ = engine.text_cls(engine.get_crop_img_list(self.picture, chunk))
        texts, _ = engine.text_rec(crops)
        self.chunks.append(
            [
                (box.tolist(), text)
                for box, (text, score) in zip(chunk, texts, strict=True)
                if text and score >= engine.text_score
            ]
        )
        if start + CHUNK >= len(self.boxes):
            self.picture = None
        return True


def _load() -> Any:
    global _engine
    if _engine is None:
        from rapidocr_onnxruntime import RapidOCR

        # Scale only large images down: small ones are not blown up to 736 pixels a side.
        _engine = RapidOCR(det_limit_type="max", det_limit_side_len=MAX_SIDE)
    return _engine


def _flatten(image: Image.Image) -> Image.Image:
    """RGB, with transparency over white (dark text on a clear background stays readable)."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    return image.convert("RGB")


def _rows(lines: list[Line]) -> str:
    """Boxes whose middles are within half a line of each other form one row."""
    boxes = []
    for box, text in lines:
        ys = [point[1] for point in box]
        boxes.append((sum(ys) / 4, max(ys) - min(ys), min(point[0] for point in box), text))
    rows: list[tuple[float, list[tuple[float, str]]]] = []
    for middle, height, left, text in sorted(boxes):
        if rows and abs(middle - rows[-1][0]) <= height / 2:
            rows[-1][1].append((left, text))
        else:
            rows.append((middle, [(left, text)]))
    return "\n".join(" ".join(text for _, text in sorted(words)) for _, words in rows)


@contextmanager
def open_image(path: Path, kind: str) -> Iterator[Source]:
    """An image file; each page of a multi-page TIFF is a page (an animation's frames are not)."""
    try:
        image = Image.open(path)
        image.load()
    except Image.DecompressionBombError as exc:
        raise UnreadableFile(f"this image is too large to read ({exc})") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        message = f"this {kind.upper()} image is damaged and cannot be read ({exc})"
        raise UnreadableFile(message) from exc
    with image:
        yield _Frames(image, kind)


class _Frames:
    """An image's pages, and the lines recognised on each so far."""

    def __init__(self, image: Image.Image, kind: str):
        self.image = image
        self.kind = kind
        self.count = getattr(image, "n_frames", 1) if kind == "tiff" else 1
        self.lines: dict[tuple[int, bool], Lines] = {}

    def document(self, tokens: int) -> Document:
        text, used = pick_pages(self.count, self._read_page, tokens)
        return Document(self.kind, text, self.count, used)

    def _read_page(self, index: int, chars: int, from_end: bool) -> str:
        if (index, from_end) not in self.lines:
            self.image.seek(index)
            self.lines[index, from_end] = Lines(ImageOps.exif_transpose(self.image), from_end)
        return self.lines[index, from_end].text(chars)
