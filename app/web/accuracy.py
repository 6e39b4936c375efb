"""The accuracy page: what people's checks say about the model, drawn. The figures are the
API's live accuracy (app/accuracy.py over the same store call); the page adds a bar per
category and the confusion grid of every check."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from ..accuracy import NONE, confusion, live_accuracy
from ..api.classifications import load_classification
from ..store import AsyncStore
from ..store.learning import RECENT

MAX_LAST = 100_000
SHADES = 5  # a grid cell's shade: 0 (no check) to SHADES (the most checks of any cell)


@dataclass(frozen=True)
class Share:
    """Of `checked` checks, `right` found the verdict right."""

    checked: int = 0
    right: int = 0

    @classmethod
    def of(cls, figures: dict[str, Any] | None) -> Share:
        return cls(figures["checked"], figures["right"]) if figures else cls()

    @property
    def percent(self) -> str:
        return f"{100 * self.right / self.checked:.0f}%" if self.checked else "–"

    @property
    def width(self) -> str:
        """The bar's length, as an SVG width."""
        return f"{100 * self.right / self.checked:.1f}%" if self.checked else "0%"


@dataclass(frozen=True)
class Bar:
    category: str
    overall: Share
    recent: Share


@dataclass(frozen=True)
class Cell:
    expected: str
    got: str
    count: int
    shade: int

    @property
    def right(self) -> bool:
        return self.expected == self.got


@dataclass(frozen=True)
class Grid:
    """Rows: the category a person said; columns: the one docsort had said."""

    names: list[str]
    rows: list[list[Cell]]


def parse_last(raw: str) -> tuple[int, str]:
    """Lenient, as a form sends it: a value it cannot use gives the default, and says so."""
    if not raw.strip():
        return RECENT, ""
    try:
        last = int(raw)
    except ValueError:
        last = 0
    if not 1 <= last <= MAX_LAST:
        return RECENT, f"a whole number of checks from 1 to {MAX_LAST}"
    return last, ""


def ordered_names(categories: list[dict[str, Any]], seen: set[str]) -> list[str]:
    """Today's categories in their order, then others checks name (removed ones), then none."""
    names = [c["name"] for c in categories]
    others = sorted(seen - {*names, NONE})
    return [*names, *others, *([NONE] if NONE in seen else [])]


def bars(accuracy: dict[str, Any], names: list[str]) -> list[Bar]:
    overall = {c["category"]: c for c in accuracy["all"]["per_category"]}
    recent = {c["category"]: c for c in accuracy["recent"]["per_category"]}
    return [Bar(n, Share.of(overall.get(n)), Share.of(recent.get(n))) for n in names]


def grid(checks: list[dict[str, Any]], names: list[str]) -> Grid:
    """Only the names some check has, on either side: a grid of a hundred categories with
    three checked would be all blanks."""
    counts = confusion(checks)
    shown = [n for n in names if any(n in pair for pair in counts)]
    most = max(counts.values(), default=0)
    rows = [
        [
            Cell(e, g, counts[e, g], math.ceil(SHADES * counts[e, g] / most) if most else 0)
            for g in shown
        ]
        for e in shown
    ]
    return Grid(shown, rows)


class AccuracyPages(Controller):
    path = "/classifications/{cls_id:str}/accuracy"
    include_in_schema = False

    @get("/")
    async def accuracy(
        self,
        store: NamedDependency[AsyncStore],
        cls_id: FromPath[str],
        last: FromQuery[str] = "",
    ) -> Template:
        """`last`: how many of the latest checks the recent figures are over."""
        recent, last_error = parse_last(last)
        classification = await load_classification(store, cls_id)
        checks = await store.latest_checks(cls_id)
        accuracy = live_accuracy(checks, recent=recent)
        seen = {c["label_name"] or NONE for c in checks} | {
            c["predicted_name"] or NONE for c in checks
        }
        names = ordered_names(classification["categories"], seen)
        return Template(
            "accuracy.html",
            context={
                "classification": classification,
                "accuracy": accuracy,
                "overall": Share.of(accuracy["all"]),
                "recent": Share.of(accuracy["recent"]),
                "sources": {s: Share.of(f) for s, f in accuracy["all"]["by_source"].items()},
                "bars": bars(accuracy, names),
                "grid": grid(checks, names),
                "last": recent,
                "last_error": last_error,
                "max_last": MAX_LAST,
            },
        )
