"""Tell what a file is from its bytes, never from the name the user gave it.

Files that can never give text (archives, unsupported formats) fail here, with a message that
says what the file is and what to do instead.
"""

from __future__ import annotations

import csv
import re
import zipfile
from pathlib import Path

from .document import UnreadableFile
from .plaintext import decode, looks_like_text

HEAD_BYTES = 8192

SUPPORTED = (
    "PDF, images (PNG, JPEG, TIFF, WebP, GIF, BMP, AVIF), plain text, Markdown, CSV, HTML,"
    " email (.eml), Word (.docx), EPUB, XPS, FB2 and MOBI"
)

_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
]
_ARCHIVES = [
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip"),
    (b"Rar!\x1a\x07", "RAR"),
    (b"\x28\xb5\x2f\xfd", "Zstandard"),
]
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

_HTML = re.compile(r"<(?:!doctype\s+html|html|head|body|div|p|table|h[1-6]|title|meta)[\s>/]")
# The first element, after any XML declaration, comments and doctype.
_ROOT = re.compile(r"(?:<\?[^>]*>|<!--.*?-->|<!doctype[^>]*>|\s)*<([\w:-]+)", re.S)
_HEADER = re.compile(r"[!-9;-~]+:")  # an RFC 5322 field name and its colon
_MAIL_FIELDS = frozenset(
    "from to cc subject date received message-id mime-version return-path delivered-to"
    " reply-to in-reply-to references content-type".split()
)
_MARKDOWN_STRONG = re.compile(r"^(#{1,6} \S|```|\|.*\|\s*$)|\[[^\]\n]+\]\([^)\s]+\)", re.M)
_MARKDOWN_ANY = re.compile(r"^(#{1,6} \S|```|\|.*\|\s*$|\s*[-*+] \S|\s*\d+\. \S|> )", re.M)


def sniff(path: Path) -> str:
    """The kind of document in `path`, e.g. "pdf", "jpeg", "email", "text"."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    if not head:
        raise UnreadableFile("the file is empty")
    if b"%PDF-" in head[:1024]:
        return "pdf"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:2] == b"BM" and head[6:10] == b"\x00\x00\x00\x00":
        return "bmp"
    if head[4:8] == b"ftyp":
        return _media_kind(head[8:12])
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(path)
    for magic, name in _ARCHIVES:
        if head.startswith(magic):
            raise _archive(name)
    if head[257:262] == b"ustar":
        raise _archive("tar")
    if head.startswith(_OLE2):
        raise UnreadableFile(
            "this is an old-style or password-protected Microsoft Office file (.doc, .xls,"
            " .ppt or .msg), which cannot be read; save it as .docx or PDF without a password"
        )
    if head[60:68] == b"BOOKMOBI":
        return "mobi"
    if looks_like_text(head):
        return _text_kind(decode(head), complete=len(head) < HEAD_BYTES)
    raise UnreadableFile(f"unsupported file type: docsort reads {SUPPORTED}")


def _archive(name: str) -> UnreadableFile:
    return UnreadableFile(
        f"this is a {name} archive, not a document; unpack it and upload the files in it"
    )


def _media_kind(brand: bytes) -> str:
    if brand in (b"avif", b"avis"):
        return "avif"
    if brand in (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"):
        raise UnreadableFile("HEIC photos cannot be read yet; export the photo as JPEG or PNG")
    raise UnreadableFile("this is an audio or video file, not a document")


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            mimetype = zf.read("mimetype")[:64] if "mimetype" in names else b""
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
        message = f"this ZIP-based file is damaged and cannot be opened ({exc})"
        raise UnreadableFile(message) from exc
    if "word/document.xml" in names:
        return "docx"
    if mimetype.startswith(b"application/epub+zip"):
        return "epub"
    if any(name.lower().endswith(".fdseq") for name in names):
        return "xps"
    if "xl/workbook.xml" in names or "ppt/presentation.xml" in names:
        raise UnreadableFile(
            "Excel and PowerPoint files cannot be read; save it as PDF and upload that"
        )
    if mimetype.startswith(b"application/vnd.oasis.opendocument"):
        raise UnreadableFile("OpenDocument files cannot be read; save it as .docx or PDF")
    raise _archive("ZIP")


def _text_kind(text: str, *, complete: bool) -> str:
    text = text.lstrip("\ufeff \t\r\n")
    lines = text.split("\n") if complete else text.split("\n")[:-1]  # the last may be cut
    low = text[:4096].lower()
    if low.startswith("{\\rtf"):
        raise UnreadableFile("RTF documents cannot be read; save it as .docx or PDF")
    if _is_email(lines):
        return "email"
    if low.startswith("<"):
        root = _ROOT.match(low)
        if root and root.group(1) in ("svg", "fictionbook"):
            return "svg" if root.group(1) == "svg" else "fb2"
        if _HTML.search(low):
            return "html"
    if _is_csv(lines):
        return "csv"
    if _MARKDOWN_STRONG.search(text) and len(_MARKDOWN_ANY.findall(text)) >= 2:
        return "markdown"
    return "text"


def _is_email(lines: list[str]) -> bool:
    """A block of header fields up to the first blank line, with at least two of email's."""
    if lines and lines[0].startswith("From "):  # an mbox separator
        lines = lines[1:]
    fields: set[str] = set()
    for line in lines:
        line = line.rstrip("\r")
        if not line:
            break
        if line[0] in " \t" and fields:
            continue
        match = _HEADER.match(line)
        if match is None:
            return False
        fields.add(match.group()[:-1].lower())
    return len(fields & _MAIL_FIELDS) >= 2


def _is_csv(lines: list[str]) -> bool:
    """At least three rows, all with the same number (two or more) of fields."""
    rows = [line for line in lines[:20] if line.strip()]
    if len(rows) < 3:
        return False
    for delimiter in ",;\t|":
        widths = {len(fields) for fields in csv.reader(rows, delimiter=delimiter)}
        if len(widths) == 1 and widths.pop() >= 2:
            return True
    return False
