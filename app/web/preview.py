"""What a reviewer sees of a document: its first page as a PNG docsort renders itself (PDFs
and images), or its opening text (everything else).

The uploaded bytes are never sent back: a PNG of our own making cannot carry a script, and
an image re-encoded at a fixed size cannot exploit the browser's decoders. Renderings are
cached on disk by file id (a file's bytes never change under its id). Everything here blocks:
call it in a thread.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import pymupdf
from PIL import Image, ImageOps

from ..reading import read_document
from ..reading.document import IMAGE_KINDS

WIDTH = 800  # pixels
MAX_HEIGHT = 2 * WIDTH  # a taller first page (a till roll) is cut to its top
OPENING_CHARS = 1500


class NoPreview(Exception):
    """The file could not be rendered (damaged, or a kind the renderers do not know)."""


def previewable(kind: str | None) -> bool:
    return kind == "pdf" or kind in IMAGE_KINDS


def preview_png(cache_dir: Path, file_id: str, source: Path, kind: str) -> bytes:
    """The cached rendering of `source`'s first page, made on first use."""
    cached = cache_dir / f"{file_id}.png"
    try:
        return cached.read_bytes()
    except FileNotFoundError:
        pass
    try:
        png = render_pdf(source) if kind == "pdf" else render_image(source)
    except Exception as exc:  # any failure of a renderer on a user's file: no preview
        raise NoPreview(str(exc)) from exc
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Written aside and moved in place: a request racing this one never reads half a file.
    fd, temporary = tempfile.mkstemp(dir=cache_dir, suffix=".part")
    with os.fdopen(fd, "wb") as out:
        out.write(png)
    os.replace(temporary, cached)
    return png


def render_pdf(source: Path) -> bytes:
    with pymupdf.open(source, filetype="pdf") as doc:
        page = doc[0]
        zoom = WIDTH / page.rect.width
        clip = pymupdf.Rect(page.rect)
        clip.y1 = min(clip.y1, clip.y0 + MAX_HEIGHT / zoom)
        pixmap = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), clip=clip, alpha=False)
        return pixmap.tobytes("png")


def render_image(source: Path) -> bytes:
    """Scaled down to WIDTH (a smaller image keeps its size), first frame, upright."""
    with Image.open(source) as image:
        image.draft("RGB", (WIDTH, WIDTH * 4))  # JPEG: decode at a fraction of the size
        picture = ImageOps.exif_transpose(image)
        if picture.mode not in ("RGB", "RGBA", "L", "LA"):
            picture = picture.convert("RGBA" if "transparency" in image.info else "RGB")
        scale = min(1.0, WIDTH / picture.width)
        kept = round(MAX_HEIGHT / scale)  # the rows that make MAX_HEIGHT once scaled
        if picture.height > kept:
            picture = picture.crop((0, 0, picture.width, kept))
        if scale < 1:
            size = (WIDTH, max(1, round(picture.height * scale)))
            picture = picture.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        out = io.BytesIO()
        picture.save(out, "PNG", optimize=False)
        return out.getvalue()


def opening_text(source: Path, chars: int = OPENING_CHARS) -> str:
    """The document's text as docsort reads it, cut to its first `chars` characters."""
    text = read_document(source, budget=chars).text  # a token per character at the most
    return text if len(text) <= chars else text[:chars].rstrip() + " …"
