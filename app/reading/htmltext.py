"""HTML: the text a reader sees, without markup, scripts or styles."""

from __future__ import annotations

import codecs
import copy
import re
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import BinaryIO

from .budget import budget_chars, cut
from .document import Document, Source

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


@contextmanager
def open_html(path: Path) -> Iterator[Source]:
    with open(path, "rb") as fh:
        yield _Page(fh)


class _Page:
    """A page parsed as far as the budgets asked for so far need."""

    def __init__(self, fh: BinaryIO):
        self.fh = fh
        self.chunk = fh.read(CHUNK_BYTES)  # the next one to parse
        self.decoder = codecs.getincrementaldecoder(_encoding(self.chunk))(errors="replace")
        self.parser = _Text()
        self.parsed: list[str] = []  # the chunks parsed, decoded
        self.sizes: list[int] = []  # the parser's text characters after each

    def document(self, tokens: int) -> Document:
        """Parse only as much of the page as the budget needs (twice it: cleaning shrinks it)."""
        limit = 2 * budget_chars(tokens)
        while self.chunk and self.parser.size < limit:
            self.parsed.append(self.decoder.decode(self.chunk))
            self.parser.feed(self.parsed[-1])
            self.sizes.append(self.parser.size)
            self.chunk = self.fh.read(CHUNK_BYTES)
        # A smaller budget than an earlier one would have stopped after fewer chunks.
        count = next((n + 1 for n, size in enumerate(self.sizes) if size >= limit), len(self.sizes))
        if count == len(self.parsed):
            parser = copy.deepcopy(self.parser)  # closing a copy leaves this one free to go on
        else:
            parser = _Text()
            for text in self.parsed[:count]:
                parser.feed(text)
        parser.close()
        return Document("html", cut("".join(parser.parts), tokens))
