"""Read the text a classifier needs out of an uploaded file, whatever its format.

The type comes from the bytes (`sniff`), never from the name the user gave the file. Each
format's reader then picks its text within a budget of tokens (`budget`), so a 500-page PDF
costs about what its budget does. A file that cannot be read raises `UnreadableFile` with a
message for the user; a readable file with no text gives a Document whose text is empty.
"""

from __future__ import annotations

import logging
from pathlib import Path

from . import htmltext, mail, ocr, office, pdf, plaintext
from .document import IMAGE_KINDS, Document, UnreadableFile
from .sniff import sniff

__all__ = ["Document", "UnreadableFile", "read_document"]

log = logging.getLogger(__name__)


def read_document(path: Path, budget: int) -> Document:
    """What the classifier should see of the file at `path`, within `budget` tokens."""
    kind = sniff(path)
    try:
        if kind in IMAGE_KINDS:
            return ocr.read_image(path, kind, budget)
        if kind in pdf.NAMES:
            return pdf.read_paged(path, kind, budget)
        if kind == "html":
            return htmltext.read_html(path, budget)
        if kind == "email":
            return mail.read_email(path, budget)
        if kind == "docx":
            return office.read_docx(path, budget)
        return plaintext.read_text(path, kind, budget)
    except UnreadableFile:
        raise
    except Exception as exc:  # a reader tripped on input it did not expect: still a clear fail
        log.exception("reading %s (%s) failed", path, kind)
        raise UnreadableFile(f"this {kind} file could not be read ({exc})") from exc
