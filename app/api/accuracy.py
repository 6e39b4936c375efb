"""The live accuracy: what people's checks say about docsort's verdicts."""

from __future__ import annotations

from collections import Counter
from typing import Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from ..store import AsyncStore
from ..store.learning import RECENT
from .classifications import load_classification
from .openapi import errors_for
from .responses import Accuracy, AccuracyResponse, AccuracySummary

NONE = "none"
CONFUSED_SHOWN = 5


def _share(right: int, total: int) -> float | None:
    return round(right / total, 4) if total else None


def summary(checks: list[dict[str, Any]]) -> AccuracySummary:
    """Of these checks: how many, the share right, per category (the person's), and per
    source (examples alone, or the model weighed)."""
    right = [c for c in checks if c["predicted_category_id"] == c["label_category_id"]]
    per_category: dict[str, list[int]] = {}
    per_source: dict[str, list[int]] = {}
    for check in checks:
        ok = int(check["predicted_category_id"] == check["label_category_id"])
        for table, key in ((per_category, check["label_name"] or NONE),
                           (per_source, check["predicted_source"])):  # fmt: skip
            counts = table.setdefault(key, [0, 0])
            counts[0] += ok
            counts[1] += 1
    return {
        "checked": len(checks),
        "right": len(right),
        "accuracy": _share(len(right), len(checks)),
        "per_category": [
            {"category": name, "checked": total, "right": ok, "accuracy": _share(ok, total)}
            for name, (ok, total) in sorted(per_category.items())
        ],
        "by_source": {
            source: {"checked": total, "right": ok, "accuracy": _share(ok, total)}
            for source, (ok, total) in sorted(per_source.items())
        },
    }


def live_accuracy(checks: list[dict[str, Any]], recent: int = RECENT) -> Accuracy:
    """Each file counts once, by its latest check; `checks` are oldest first."""
    confused = Counter(
        (c["label_name"] or NONE, c["predicted_name"] or NONE)
        for c in checks
        if c["predicted_category_id"] != c["label_category_id"]
    )
    return {
        "all": summary(checks),
        "recent": {"last": recent, **summary(checks[-recent:])},
        "most_confused": [
            {"expected": expected, "got": got, "count": count}
            for (expected, got), count in confused.most_common(CONFUSED_SHOWN)
        ],
        "from_examples": sum(c["predicted_source"] == "examples" for c in checks),
    }


class AccuracyController(Controller):
    path = "/v1/classifications/{cls_id:str}/accuracy"

    @get("/", **errors_for(404))
    async def show(
        self, store: NamedDependency[AsyncStore], cls_id: FromPath[str]
    ) -> AccuracyResponse:
        await load_classification(store, cls_id)
        return {"accuracy": live_accuracy(await store.latest_checks(cls_id))}
