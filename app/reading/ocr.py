"""OCR with RapidOCR (PP-OCR models in ONNX, shipped inside the PyPI package): offline, CPU.

The engine is loaded on first use (importing it costs a few hundred milliseconds) and used by
one thread at a time: it already spreads each page over every core. Recognising a line costs
far more than finding it, so lines are recognised only until the budget has enough text: the
steps of RapidOCR's own __call__ (rapidocr-onnxruntime 1.4.4, pinned) are run one by one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from .budget import pick_pages
from .document import Document, UnreadableFile

MAX_SIDE = 2000  # pixels; larger images are scaled down first (the models look no closer)
CHUNK = 12  # lines recognised at a time

_lock = threading.Lock()
_engine: Any = None


def recognise(image: Image.Image, limit: int | None = None, from_end: bool = False) -> str:
    """The text in `image`, one line per row of text, left to right. With `limit`, lines are
    recognised from the top (or from the bottom) only until there are that many characters."""
    image = _flatten(image)
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    with _lock:
        return _rows(list(_lines(_load(), image, limit, from_end)))


def _load() -> Any:
    global _engine
    if _engine is None:
        from rapidocr_onnxruntime import RapidOCR

        # Scale only large images down: small ones are not blown up to 736 pixels a side.
        _engine = RapidOCR(det_limit_type="max", det_limit_side_len=MAX_SIDE)
    return _engine


def _lines(
    engine: Any, image: Image.Image, limit: int | None, from_end: bool
) -> Iterator[tuple[list[list[float]], str]]:
    picture, _, _ = engine.preprocess(engine.load_img(image))
    picture, _ = engine.maybe_add_letterbox(picture, {})
    boxes, _ = engine.auto_text_det(picture)  # sorted top to bottom, left to right
    if boxes is None:
        return
    boxes = boxes[::-1] if from_end else boxes
    size = 0
    for start in range(0, len(boxes), CHUNK):
        chunk = boxes[start : start + CHUNK]
        crops, _, _ = engine.text_cls(engine.get_crop_img_list(picture, chunk))
        texts, _ = engine.text_rec(crops)
        for box, (text, score) in zip(chunk, texts, strict=True):
            if text and score >= engine.text_score:
                size += len(text)
                yield box.tolist(), text
        if limit is not None and size >= limit:
            return


def _flatten(image: Image.Image) -> Image.Image:
    """RGB, with transparency over white (dark text on a clear background stays readable)."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    return image.convert("RGB")


def _rows(lines: list[tuple[list[list[float]], str]]) -> str:
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


def read_image(path: Path, kind: str, tokens: int) -> Document:
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
        count = getattr(image, "n_frames", 1) if kind == "tiff" else 1

        def read_page(index: int, chars: int, from_end: bool) -> str:
            image.seek(index)
            return recognise(ImageOps.exif_transpose(image), chars, from_end)

        text, used = pick_pages(count, read_page, tokens)
    return Document(kind, text, count, used)
