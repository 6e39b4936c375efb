"""OCR with RapidOCR (PP-OCR models in ONNX, shipped inside the PyPI package): offline, CPU.

The engine is loaded on first use (importing it costs a few hundred milliseconds) and used by
one thread at a time: it already spreads each page over every core.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from .budget import pick_pages
from .document import Document, UnreadableFile

MAX_SIDE = 2000  # pixels; larger images are scaled down first (the models look no closer)

_lock = threading.Lock()
_engine: Any = None


def recognise(image: Image.Image) -> str:
    """The text in `image`, one line per row of text, left to right."""
    global _engine
    image = _flatten(image)
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    with _lock:
        if _engine is None:
            from rapidocr_onnxruntime import RapidOCR

            # Scale only large images down: small ones are not blown up to 736 pixels a side.
            _engine = RapidOCR(det_limit_type="max", det_limit_side_len=MAX_SIDE)
        result, _ = _engine(image)
    return _rows(result or [])


def _flatten(image: Image.Image) -> Image.Image:
    """RGB, with transparency over white (dark text on a clear background stays readable)."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    return image.convert("RGB")


def _rows(result: list[Any]) -> str:
    """Boxes whose middles are within half a line of each other form one row."""
    boxes = []
    for box, text, _score in result:
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
        with Image.open(path) as image:
            count = getattr(image, "n_frames", 1) if kind == "tiff" else 1

            def read_page(index: int) -> str:
                image.seek(index)
                return recognise(ImageOps.exif_transpose(image))

            text, used = pick_pages(count, read_page, tokens)
    except Image.DecompressionBombError as exc:
        raise UnreadableFile(f"this image is too large to read ({exc})") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnreadableFile(
            f"this {kind.upper()} image is damaged and cannot be read ({exc})"
        ) from exc
    return Document(kind, text, count, used)
