"""A classification's category definitions as the model saw them, and what changed between
two of them: what makes a machine verdict stale.

A snapshot is the list of the live categories, each with what a verdict depends on (the
name, description and keywords the prompt shows, and the extraction the verdict chains to).
Order is not part of it (of the categories, or of their keywords): it changes no verdict.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

# How each change of a kept category reads (a rename reads "old → new: renamed").
CHANGED = {
    "description": "description changed",
    "keywords": "keywords changed",
    "linked_extraction_id": "linked extraction changed",
}


def snapshot(categories: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The definitions of these categories (as the store or the API shows them)."""
    return [
        {
            "id": c["id"],
            "name": c["name"],
            "description": c.get("description") or "",
            "keywords": sorted(c.get("keywords") or []),
            "linked_extraction_id": c.get("linked_extraction_id"),
        }
        for c in categories
    ]


def changes(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[str]:
    """What a person would want to know changed from `old` to `new`, in `new`'s order, then
    the removed categories: e.g. "Bill → Invoice: renamed", "Invoice: keywords changed",
    "Receipt: added", "Memo: removed". Empty when a verdict made with `old` still holds."""
    before = {c["id"]: c for c in old}
    after = {c["id"] for c in new}
    found: list[str] = []
    for category in new:
        was = before.get(category["id"])
        name = category["name"]
        if was is None:
            found.append(f"{name}: added")
            continue
        if was["name"] != name:
            found.append(f"{was['name']} → {name}: renamed")
        found.extend(
            f"{name}: {said}" for field, said in CHANGED.items() if was[field] != category[field]
        )
    found.extend(f"{c['name']}: removed" for c in old if c["id"] not in after)
    return found


@lru_cache(maxsize=1024)
def changes_between(old_json: str, new_json: str) -> tuple[str, ...]:
    """`changes` of two stored snapshots: versions never change once written, so the
    answer for a pair is kept."""
    return tuple(changes(json.loads(old_json), json.loads(new_json)))


def fingerprint(categories: list[dict[str, Any]]) -> str:
    """Equal for two snapshots exactly when `changes` finds nothing between them, so SQL can
    tell a stale verdict. Stored with each version: never change how it is computed."""
    canonical = sorted(categories, key=lambda c: c["id"])
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()
