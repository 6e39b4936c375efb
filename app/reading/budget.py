"""Which text the classifier sees: cleaned, and cut to a budget of tokens.

The budget is in tokens, counted as CHARS_PER_TOKEN characters each: close for English prose
with the Qwen and Llama tokenizers (other scripts spend more tokens per character). A paged
document gives most of its budget to its first pages and the rest to the end of its last page,
where signatures, totals and closing lines say what a document is. The pages in between are
never read, so a 500-page PDF costs what its budget costs.
"""

from __future__ import annotations

import re
from collections.abc import Callable

CHARS_PER_TOKEN = 4
TAIL_SHARE = 0.25  # of the budget, for the end of the last page
EDGE_LINES = 3  # lines at the top and at the bottom of a page that may be a running header
MIN_PART = 24  # characters: a page gets at least this much room, or is left out
MARKER_ROOM = 32  # "\n\n[… 12345 pages left out …]\n\n"
SKIPPED = "[…]"

_WHITESPACE = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
# Dot leaders of a table of contents, rules and form blanks spend tokens and say nothing.
_PUNCTUATION_RUNS = re.compile(r"([._\-=*~·•])(?: ?\1){3,}")
_DIGITS = re.compile(r"\d+")
_WORDLESS_LINES = re.compile(r"^[^\w\n]+(?:\n|$)", re.MULTILINE)


def budget_chars(tokens: int) -> int:
    return max(tokens, 1) * CHARS_PER_TOKEN


def estimate_tokens(text: str) -> float:
    """Qwen's tokenizer reads each digit as a token: a receipt's 1,000 characters are 500
    tokens, not 250. Other characters are counted CHARS_PER_TOKEN a token."""
    digits = sum(c.isdigit() for c in text)
    return digits + (len(text) - digits) / CHARS_PER_TOKEN


def fit(text: str, tokens: int) -> str:
    """cut(), with the characters `tokens` buys at this text's own density: fewer for a text
    full of figures. What the model reads is sized this way, since its tokens are its cost."""
    chars_per_token = len(text) / max(estimate_tokens(text), 1)
    return cut(text, max(round(tokens * chars_per_token / CHARS_PER_TOKEN), 1))


def clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _WHITESPACE.sub(" ", _PUNCTUATION_RUNS.sub(r"\1\1\1", text))
    text = "\n".join(line.strip() for line in text.split("\n"))
    # A form's leaders, split one dot a line, would take a fifth of the budget.
    text = _WORDLESS_LINES.sub("", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


def cut(text: str, tokens: int, ending: str | None = None) -> str:
    """The cleaned start of an unpaged document and, when it does not all fit, its end: the
    end of a receipt, a letter or an email (totals, change given, a signature) often says
    what it is. `ending` is the end of a file too long to have been read whole."""
    chars = budget_chars(tokens)
    text = clean(text)
    if ending is None and len(text) <= chars:
        return text
    tail = _ending(clean(text if ending is None else ending), int(chars * TAIL_SHARE))
    head = text[: max(chars - len(tail) - len(SKIPPED) - 4, 0)]
    return f"{head}\n\n{SKIPPED}\n\n{tail}"


class _Repeats:
    """Running headers, footers and page numbers: a line at the edge of a page that was at the
    edge of an earlier page too (digits aside) is dropped; its first appearance stays."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def drop(self, text: str) -> str:
        lines = text.split("\n")
        filled = [i for i, line in enumerate(lines) if line]
        edges = {i: _DIGITS.sub("#", lines[i].lower()) for i in filled[:EDGE_LINES]}
        edges.update({i: _DIGITS.sub("#", lines[i].lower()) for i in filled[-EDGE_LINES:]})
        kept = [line for i, line in enumerate(lines) if edges.get(i) not in self.seen]
        self.seen.update(edges.values())
        return clean("\n".join(kept))


def _ending(text: str, room: int) -> str:
    """The last `room` characters of `text`, starting on a line, or else on a word, when
    that costs little."""
    if len(text) <= room:
        return text
    end = text[-room:]
    for separator, loss in (("\n", room // 2), (" ", 20)):
        start = end.find(separator)
        if 0 <= start < loss:
            return end[start + 1 :]
    return end


# read_page(index, chars, from_end): the text of a 0-based page. `chars` says how much of it
# can be used, from its start or (from_end) its end: a hint that lets OCR stop early.
ReadPage = Callable[[int, int, bool], str]


def pick_pages(count: int, read_page: ReadPage, tokens: int) -> tuple[str, tuple[int, ...]]:
    """The text of the first pages and the end of the last page, within `tokens`.

    `read_page` is called only for the pages used (and blank ones on the way); the pages
    returned are 1-based."""
    chars = budget_chars(tokens)
    last = count - 1
    tail = clean(read_page(last, int(chars * TAIL_SHARE), True)) if count > 1 else ""
    # The tail's share, and room for the marker and separators between head and tail.
    head_chars = chars - min(len(tail), int(chars * TAIL_SHARE)) - (MARKER_ROOM if tail else 0)
    repeats = _Repeats()
    parts: list[str] = []
    used: list[int] = []
    size = -2  # the length of "\n\n".join(parts)
    page = 0
    cut_short = False
    while page < max(last, 1):
        room = head_chars - size - 2
        if room < min(MIN_PART, head_chars):
            break
        text = repeats.drop(clean(read_page(page, room, False)))
        page += 1
        if text:
            cut_short = len(text) > room
            parts.append(text[:room])
            used.append(page)
            size += 2 + len(parts[-1])
    tail = repeats.drop(tail)
    if tail:
        skipped = last - page
        marker = SKIPPED if cut_short else ""
        if skipped:
            marker = f"[… {skipped} page{'s' * (skipped > 1)} left out …]"
        room = chars - size - 2 - (len(marker) + 2 if marker else 0)
        if room >= min(len(tail), MIN_PART):
            parts.extend([marker, _ending(tail, room)] if marker else [_ending(tail, room)])
            used.append(count)
    return "\n\n".join(parts), tuple(used)
