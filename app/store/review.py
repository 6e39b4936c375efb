"""The review queue: a classification's files, least sure first, filtered and paged in SQL
so a queue of thousands renders as fast as one of fifty.

The order puts first what most needs a person: failed files, then the verdicts nobody has
checked yet (least confident first), then the files still waiting for a verdict, then the
confirmed ones, and the overridden ones (a person's verdict already) last.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import FAILED, PROCESSED, StoreBase
from .files import _FILE_COLUMNS, _FILE_JOINS
from .versions import STALE

NONE = "none"  # the category filter for files whose verdict is no category
STATUSES = ("failed", "overridden", "unchecked")

_HAS_VERDICT = f"(f.overridden OR f.status = '{PROCESSED}')"
_VERDICT = "CASE WHEN f.overridden THEN f.override_category_id ELSE f.model_category_id END"
_ORDER = f"""
    CASE
        WHEN f.overridden THEN 4
        WHEN f.status = '{FAILED}' THEN 0
        WHEN f.checked_at IS NOT NULL THEN 3
        WHEN f.status = '{PROCESSED}' THEN 1
        ELSE 2
    END, f.model_confidence IS NULL, f.model_confidence, f.rowid
"""


@dataclass(frozen=True)
class ReviewFilters:
    """What the queue is narrowed to; None (or False) leaves a filter off."""

    category: str | None = None  # a category id, or NONE
    status: str | None = None  # one of STATUSES
    below: float | None = None  # model confidence below this, overridden files left out
    batch: str | None = None
    stale: bool = False  # only machine verdicts made with other definitions than today's


@dataclass(frozen=True)
class QueuePlace:
    """Where a file is in the filtered queue, and its neighbours there."""

    position: int  # 0-based
    next_id: str | None
    previous_id: str | None


class ReviewStore(StoreBase):
    def review_page(
        self, cls_id: str, filters: ReviewFilters, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the queue (rows as `get_file` gives them) and the queue's length."""
        where, params = self._review_where(cls_id, filters)
        total = self._row(f"SELECT count(*) AS n FROM files f WHERE {where}", params)
        rows = self._rows(
            f"SELECT {_FILE_COLUMNS} {_FILE_JOINS} WHERE {where} ORDER BY {_ORDER}"
            " LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return self._mark_stale(rows), total["n"] if total else 0  # type: ignore[attr-defined]

    def review_place(self, cls_id: str, filters: ReviewFilters, file_id: str) -> QueuePlace | None:
        """None when the file is not in the filtered queue."""
        where, params = self._review_where(cls_id, filters)
        row = self._row(
            "SELECT position, next_id, previous_id FROM ("
            f" SELECT f.id, row_number() OVER (ORDER BY {_ORDER}) - 1 AS position,"
            f" lead(f.id) OVER (ORDER BY {_ORDER}) AS next_id,"
            f" lag(f.id) OVER (ORDER BY {_ORDER}) AS previous_id"
            f" FROM files f WHERE {where}) WHERE id = ?",
            [*params, file_id],
        )
        return None if row is None else QueuePlace(**row)

    def review_batches(self, cls_id: str) -> list[dict[str, Any]]:
        """The classification's batches for the batch filter, newest first."""
        return self._rows(
            "SELECT id, file_count, created_at FROM batches"
            " WHERE classification_id = ? AND examples_for IS NULL ORDER BY id DESC",
            [cls_id],
        )

    def labelled_files(self, file_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The files a verdict's nearest examples name, by id: an example file (with its
        category) or a checked file of the classification; files since deleted are left out."""
        if not file_ids:
            return {}
        marks = ", ".join("?" * len(file_ids))
        rows = self._rows(
            "SELECT id, file_name, classification_id, example_category_id FROM files"
            f" WHERE id IN ({marks})",
            file_ids,
        )
        return {row["id"]: row for row in rows}

    def _review_where(self, cls_id: str, filters: ReviewFilters) -> tuple[str, list[Any]]:
        conditions = ["f.classification_id = ?", "f.example_category_id IS NULL"]
        params: list[Any] = [cls_id]
        if filters.category == NONE:
            conditions.append(f"{_HAS_VERDICT} AND {_VERDICT} IS NULL")
        elif filters.category is not None:
            conditions.append(f"{_HAS_VERDICT} AND {_VERDICT} = ?")
            params.append(filters.category)
        if filters.status == "failed":
            conditions.append(f"f.status = '{FAILED}'")
        elif filters.status == "overridden":
            conditions.append("f.overridden")
        elif filters.status == "unchecked":
            conditions.append("f.checked_at IS NULL")
        if filters.below is not None:
            conditions.append("NOT f.overridden AND f.model_confidence < ?")
            params.append(filters.below)
        if filters.batch is not None:
            conditions.append("f.batch_id = ?")
            params.append(filters.batch)
        if filters.stale:
            conditions.append(STALE)
        return " AND ".join(f"({c})" for c in conditions), params
