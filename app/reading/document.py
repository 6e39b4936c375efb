"""What reading a file gives back, the one error every reader raises, and what every reader
opens a file as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# Kinds whose pages are pictures: their text can only come from OCR.
IMAGE_KINDS = frozenset({"png", "jpeg", "tiff", "webp", "gif", "bmp", "avif"})


class UnreadableFile(Exception):
    """The file cannot be turned into text; the message is shown to the user as is."""


@dataclass(frozen=True)
class Document:
    """The text chosen for the classifier, and what the file turned out to be.

    `page_count` is None for formats without pages (text, HTML, email, Word); `pages_used`
    lists the 1-based pages whose text made it into `text`."""

    kind: str
    text: str
    page_count: int | None = None
    pages_used: tuple[int, ...] | None = None

    @property
    def no_text_reason(self) -> str:
        """The verdict's reasoning when there is no text to show the model."""
        if self.kind in IMAGE_KINDS:
            return "OCR found no readable text in this image, so it fits no category."
        if self.page_count is not None:
            return (
                f"The {self.kind.upper()} file holds no readable text (none in its text layer"
                " and none found by OCR), so it fits no category."
            )
        return "The file holds no readable text, so it fits no category."


class Source(Protocol):
    """A file opened once, to be read for one budget or several (a verdict's, an
    extraction's): what a budget needs of the file is read once and kept for the next, and
    each budget gets exactly the Document a read for it alone would give."""

    def document(self, tokens: int) -> Document: ...
