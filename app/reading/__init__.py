"""Read the text a classifier needs out of an uploaded file, whatever its format.

The type comes from the bytes (`sniff`), never from the name the user gave the file. Each
format's reader then picks its text within a budget of tokens (`budget`), so a 500-page PDF
costs about what its budget does. A file that cannot be read raises `UnreadableFile` with a
message for the user; a readable file with no text gives a Document whose text is empty.

A file can be read for several budgets at once (`read_documents`: a verdict's and the
extraction its category chains), each getting what a read for it alone would give, while
no page is parsed, rendered or OCR'd twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from . import htmltext, mail, ocr, office, pdf, plaintext
from .document import IMAGE_KINDS, Document, Source, UnreadableFile
from .sniff import sniff

__all__ = ["Document", "UnreadableFile", "read_document", "read_documents"]

log = logging.getLogger(__name__)


def read_document(path: Path, budget: int) -> Document:
    """What the classifier should see of the file at `path`, within `budget` tokens."""
    [document] = read_documents(path, [budget])
    if isinstance(document, UnreadableFile):
        raise document
    return document


def read_documents(path: Path, budgets: Sequence[int]) -> list[Document | UnreadableFile]:
    """For each of `budgets`, in turn, what read_document gives for it: a Document, or the
    UnreadableFile it raises. The file is opened once; a budget after one that failed is not
    read and gets that failure (so ask for the one that matters most first)."""
    results: list[Document | UnreadableFile] = []
    try:
        kind = sniff(path)
        with _readable(path, kind), _open(path, kind) as source:
            for tokens in budgets:
                results.append(source.document(tokens))
    except UnreadableFile as exc:
        results += [exc] * (len(budgets) - len(results))
    return results


def _open(path: Path, kind: str) -> AbstractContextManager[Source]:
    if kind in IMAGE_KINDS:
        return ocr.open_image(path, kind)
    if kind in pdf.NAMES:
        return pdf.open_paged(path, kind)
    if kind == "html":
        return htmltext.open_html(path)
    if kind == "email":
        return mail.open_email(path)
    if kind == "docx":
        return office.open_docx(path)
    return plaintext.open_text(path, kind)


@contextmanager
def _readable(path: Path, kind: str) -> Iterator[None]:
    """A reader that trips on input it did not expect still fails clearly."""
    try:
        yield
    except UnreadableFile:
        raise
    except Exception as exc:
        log.exception("reading %s (%s) failed", path, kind)
        raise UnreadableFile(f"this {kind} file could not be read ({exc})") from exc
