"""Which of each category's keywords a document contains.

A user's keywords are the words they expect a category's documents to carry: evidence that
app.evidence weighs against the model's answer, and that prompt templates may show the model
(`matches` in classify_user.j2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Match:
    category: str
    words: tuple[str, ...]
    total: int  # keywords the category has

    @property
    def share(self) -> float:
        return len(self.words) / self.total


def _pattern(keyword: str) -> re.Pattern[str]:
    """The keyword as a whole word (or words): "term" is not found in "determine", and a
    keyword that begins or ends with punctuation ("From:", "et al.") is matched as written."""
    word = re.escape(" ".join(keyword.split())).replace(r"\ ", r"\s+")
    head = r"(?<!\w)" if keyword[:1].isalnum() else ""
    tail = r"(?!\w)" if keyword[-1:].isalnum() else ""
    return re.compile(head + word + tail, re.IGNORECASE)


def find(text: str, keywords: list[str]) -> tuple[str, ...]:
    return tuple(k for k in keywords if k.strip() and _pattern(k.strip()).search(text))


def matches(text: str, categories: list[dict[str, Any]]) -> list[Match]:
    """Categories with at least one keyword in `text`, the best-covered first (ties keep the
    classification's order)."""
    found = []
    for category in categories:
        keywords = category.get("keywords") or []
        words = find(text, keywords)
        if words:
            found.append(Match(category["name"], words, len(keywords)))
    return sorted(found, key=lambda match: -match.share)
