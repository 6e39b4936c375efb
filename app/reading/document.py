"""What reading a file gives back, and the one error every reader raises."""

from __future__ import annotations

from dataclasses import dataclass

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
