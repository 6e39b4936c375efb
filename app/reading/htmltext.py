"""HTML: the text a reader sees, without markup, scripts or styles."""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser
from pathlib import Path

from .budget import budget_chars, cut
from .document import Document

CHUNK_BYTES = 65536
_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "object"})
_BLOCK = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer form h1 h2 h3"
    " h4 h5 h6 header hr li main nav ol p pre section table title tr ul".split()
)
_CELL = frozenset({"td", "th"})
_SPACES = re.compile(r"\s+")
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?([\w.:-]+)", re.I)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.size = 0
        self.skipping = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag == "pre":
            self.pre += 1
        self._break(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(self.skipping - 1, 0)
        elif tag == "pre":
            self.pre = max(self.pre - 1, 0)
        self._break(tag)

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data if self.pre else _SPACES.sub(" ", data))
            self.size += len(data)

    def _break(self, tag: str) -> None:
        if tag in _BLOCK:
            self.parts.append("\n")
        elif tag in _CELL:
            self.parts.append("\t")


def html_to_text(markup: str) -> str:
    parser = _Text()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts)


def _encoding(head: bytes) -> str:
    """From the BOM, else the <meta> charset, else UTF-8 if it decodes, else Windows-1252
    (what browsers assume for pages that do not say)."""
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    match = _META_CHARSET.search(head[:4096])
    if match:
        try:
            return codecs.lookup(match.group(1).decode("ascii")).name
        except LookupError:
            pass
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            return "cp1252"
    return "utf-8"


def read_html(path: Path, tokens: int) -> Document:
    """Parse only as much of the page as the budget needs (twice it: cleaning shrinks it)."""
    parser = _Text()
    with open(path, "rb") as fh:
        chunk = fh.read(CHUNK_BYTES)
        decoder = codecs.getincrementaldecoder(_encoding(chunk))(errors="replace")
        while chunk and parser.size < 2 * budget_chars(tokens):
            parser.feed(decoder.decode(chunk))
            chunk = fh.read(CHUNK_BYTES)
    parser.close()
    return Document("html", cut("".join(parser.parts), tokens))
