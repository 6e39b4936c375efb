"""The live accuracy: what people's checks say about docsort's verdicts. Read by the API
(app/api/accuracy.py) and drawn by the accuracy page (app/web/accuracy.py).

`checks` are the store's `latest_checks`: each checked file once, by its latest check,
oldest first, with the predicted and the label category's names (None: none).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from .store.learning import RECENT

if TYPE_CHECKING:
    from .api.responses import Accuracy, AccuracySummary

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


def confusion(checks: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """How many checks found each (expected, got) pair of names, the right ones included."""
    return Counter((c["label_name"] or NONE, c["predicted_name"] or NONE) for c in checks)


def live_accuracy(checks: list[dict[str, Any]], recent: int = RECENT) -> Accuracy:
    """Over every check, and over the `recent` latest ones."""
    confused = Counter(
        {pair: count for pair, count in confusion(checks).items() if pair[0] != pair[1]}
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
