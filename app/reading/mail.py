"""Email (.eml): who wrote to whom about what, and the body, in whatever charset it came."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from .budget import cut
from .document import Document, Source
from .htmltext import html_to_text
from .plaintext import decode

HEADERS = ("From", "To", "Subject", "Date")


@dataclass(frozen=True)
class _Email:
    """The whole email's text, which each budget cuts."""

    text: str

    def document(self, tokens: int) -> Document:
        return Document("email", cut(self.text, tokens))


@contextmanager
def open_email(path: Path) -> Iterator[Source]:
    with open(path, "rb") as fh:
        message = BytesParser(policy=policy.default).parse(fh)
    lines = [f"{name}: {value}" for name in HEADERS if (value := _header(message, name))]
    attachments = [name for part in message.walk() if (name := _attachment_name(part))]
    if attachments:
        lines.append("Attachments: " + ", ".join(attachments))
    bodies = list(_bodies(message))
    bodies.sort(key=lambda part: part.get_content_subtype() == "html")  # text parts first
    texts = [_text(part) for part in bodies]
    yield _Email("\n".join(lines) + "\n\n" + "\n\n".join(texts))


def _header(message: EmailMessage, name: str) -> str:
    try:
        return " ".join(str(message.get(name, "")).split())
    except Exception:  # a header too broken to parse says nothing anyway
        return ""


def _attachment_name(part: EmailMessage) -> str | None:
    if part.get_content_disposition() == "attachment" or (
        part.get_filename() and part.get_content_maintype() != "multipart"
    ):
        return part.get_filename() or f"unnamed {part.get_content_type()}"
    return None


def _bodies(part: EmailMessage) -> Iterator[EmailMessage]:
    """The readable body parts, forwarded messages' included; of alternatives, the plain
    text one when there is one."""
    if _attachment_name(part):
        return
    if part.is_multipart():
        children: list[EmailMessage] = part.get_payload()  # type: ignore[assignment]
        if part.get_content_type() == "multipart/alternative" and children:
            plain = [c for c in children if c.get_content_type() == "text/plain"]
            children = plain[:1] or children[-1:]
        for child in children:
            yield from _bodies(child)
    elif part.get_content_type() in ("text/plain", "text/html"):
        yield part


def _text(part: EmailMessage) -> str:
    data = part.get_payload(decode=True) or b""
    charset = part.get_content_charset()
    try:
        text = data.decode(charset) if charset else decode(data)
    except (LookupError, UnicodeDecodeError):
        text = decode(data)
    return html_to_text(text) if part.get_content_subtype() == "html" else text
