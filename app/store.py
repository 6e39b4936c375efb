"""The SQLite store: every SQL statement docsort runs lives in this module.

`Store` is synchronous and owns one connection; `AsyncStore` runs its methods on a single
dedicated thread so the event loop never waits on SQLite and writes never interleave.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from .ids import new_id
from .migrations import migrate

QUEUED, PROCESSING, PROCESSED, FAILED = "queued", "processing", "processed", "failed"

_BATCH_COLUMNS = f"""
    b.id, b.classification_id, b.file_count, b.created_at,
    CASE
        WHEN sum(f.status IN ('{QUEUED}', '{PROCESSING}')) = 0 THEN '{PROCESSED}'
        WHEN sum(f.status != '{QUEUED}') = 0 AND max(f.attempts) = 0 THEN '{QUEUED}'
        ELSE '{PROCESSING}'
    END AS status,
    sum(f.status = '{PROCESSED}') AS processed_count,
    sum(f.status = '{FAILED}') AS failed_count,
    max(f.finished_at) AS last_finished_at
"""

# The effective verdict is the override when there is one, else the model's.
_FILE_COLUMNS = """
    f.*,
    CASE WHEN f.overridden THEN f.override_category_id ELSE f.model_category_id END
        AS classified_category_id,
    c.name AS classified_category_name,
    c.removed_at IS NOT NULL AS classified_category_removed,
    mc.name AS model_category_name
"""
_FILE_JOINS = """
    FROM files f
    LEFT JOIN categories c ON c.id =
        CASE WHEN f.overridden THEN f.override_category_id ELSE f.model_category_id END
    LEFT JOIN categories mc ON mc.id = f.model_category_id
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _category_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "keywords": json.loads(row["keywords"] or "[]"),
        "linked_extraction_id": row["linked_extraction_id"],
    }


class Store:
    def __init__(self, path: Path | str):
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db = sqlite_utils.Database(conn)
        self.db.execute("PRAGMA foreign_keys = ON")
        if path != ":memory:":
            self.db.enable_wal()
            self.db.execute("PRAGMA synchronous = NORMAL")
        migrate(self.db)

    def _rows(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params))

    def _row(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def check(self) -> bool:
        return self.db.execute("SELECT 1").fetchone()[0] == 1

    # Classifications ------------------------------------------------------------------

    def create_classification(
        self, name: str, description: str, categories: list[dict[str, Any]]
    ) -> str:
        cls_id = new_id("cls")
        ts = now_iso()
        with self.db.conn:
            self.db["classifications"].insert(
                {
                    "id": cls_id,
                    "name": name,
                    "description": description,
                    "created_at": ts,
                    "updated_at": ts,
                }
            )
            for position, cat in enumerate(categories):
                self._insert_category(cls_id, position, cat, ts)
        return cls_id

    @staticmethod
    def _category_fields(position: int, cat: dict[str, Any], ts: str) -> dict[str, Any]:
        return {
            "position": position,
            "name": cat["name"],
            "description": cat.get("description") or "",
            "keywords": json.dumps(cat.get("keywords") or []),
            "linked_extraction_id": cat.get("linked_extraction_id"),
            "updated_at": ts,
        }

    def _insert_category(self, cls_id: str, position: int, cat: dict[str, Any], ts: str) -> None:
        self.db["categories"].insert(
            {
                "id": new_id("cat"),
                "classification_id": cls_id,
                **self._category_fields(position, cat, ts),
                "created_at": ts,
                "removed_at": None,
            }
        )

    def get_classification(self, cls_id: str) -> dict[str, Any] | None:
        row = self._row(
            "SELECT id, name, description, created_at, updated_at FROM classifications"
            " WHERE id = ?",
            [cls_id],
        )
        if row is None:
            return None
        cats = self._rows(
            "SELECT * FROM categories WHERE classification_id = ? AND removed_at IS NULL"
            " ORDER BY position",
            [cls_id],
        )
        return {**row, "categories": [_category_out(c) for c in cats]}

    def list_classifications(self) -> list[dict[str, Any]]:
        ids = [r["id"] for r in self._rows("SELECT id FROM classifications ORDER BY id")]
        return [self.get_classification(i) for i in ids]  # type: ignore[misc]

    def update_classification(
        self,
        cls_id: str,
        fields: dict[str, Any],
        categories: list[dict[str, Any]] | None,
    ) -> None:
        """Apply a PATCH. With `categories`, that list becomes the full set: an entry with an
        id edits that category, one without is added, and any category left out is marked
        removed (kept for the verdicts that name it)."""
        ts = now_iso()
        with self.db.conn:
            self.db["classifications"].update(cls_id, {**fields, "updated_at": ts})
            if categories is None:
                return
            kept = {c["id"] for c in categories if c.get("id")}
            self.db.execute(
                "UPDATE categories SET removed_at = ?, position = -1 WHERE classification_id = ?"
                f" AND removed_at IS NULL AND id NOT IN ({','.join('?' * len(kept))})",
                [ts, cls_id, *kept],
            )
            for position, cat in enumerate(categories):
                if not cat.get("id"):
                    self._insert_category(cls_id, position, cat, ts)
                    continue
                self.db["categories"].update(cat["id"], self._category_fields(position, cat, ts))

    def category_ids(self, cls_id: str) -> set[str]:
        rows = self._rows(
            "SELECT id FROM categories WHERE classification_id = ? AND removed_at IS NULL",
            [cls_id],
        )
        return {r["id"] for r in rows}

    # Batches and files --------------------------------------------------------------------

    def create_batch(self, batch_id: str, cls_id: str, files: list[dict[str, Any]]) -> None:
        ts = now_iso()
        with self.db.conn:
            self.db["batches"].insert(
                {
                    "id": batch_id,
                    "classification_id": cls_id,
                    "file_count": len(files),
                    "created_at": ts,
                }
            )
            self.db["files"].insert_all(
                {
                    **f,
                    "batch_id": batch_id,
                    "classification_id": cls_id,
                    "status": QUEUED,
                    "attempts": 0,
                    "overridden": 0,
                    "created_at": ts,
                }
                for f in files
            )

    def get_batch(self, cls_id: str, batch_id: str) -> dict[str, Any] | None:
        return self._row(
            f"SELECT {_BATCH_COLUMNS} FROM batches b JOIN files f ON f.batch_id = b.id"
            " WHERE b.id = ? AND b.classification_id = ? GROUP BY b.id",
            [batch_id, cls_id],
        )

    def list_batches(self, cls_id: str) -> list[dict[str, Any]]:
        return self._rows(
            f"SELECT {_BATCH_COLUMNS} FROM batches b JOIN files f ON f.batch_id = b.id"
            " WHERE b.classification_id = ? GROUP BY b.id ORDER BY b.id",
            [cls_id],
        )

    def batch_files(self, batch_id: str) -> list[dict[str, Any]]:
        return self._rows(
            f"SELECT {_FILE_COLUMNS} {_FILE_JOINS} WHERE f.batch_id = ? ORDER BY f.id",
            [batch_id],
        )

    def get_file(self, file_id: str, cls_id: str | None = None) -> dict[str, Any] | None:
        sql = f"SELECT {_FILE_COLUMNS} {_FILE_JOINS} WHERE f.id = ?"
        params = [file_id]
        if cls_id is not None:
            sql += " AND f.classification_id = ?"
            params.append(cls_id)
        return self._row(sql, params)

    # The worker's side: claim, finish, fail, retry -----------------------------------

    def claim_file(self, now: float) -> dict[str, Any] | None:
        """Atomically move the oldest runnable queued file to processing.

        The fresh run_token lets a finishing run notice that the file was redone or
        re-queued under it, and drop its now-stale result."""
        return self._row(
            f"UPDATE files SET status = '{PROCESSING}', attempts = attempts + 1,"
            " run_token = ?, started_at = ?, error = NULL"
            " WHERE id = (SELECT id FROM files WHERE status = ?"
            "   AND (run_after IS NULL OR run_after <= ?) ORDER BY id LIMIT 1)"
            " RETURNING *",
            [new_id("run"), now_iso(), QUEUED, now],
        )

    def next_run_after(self) -> float | None:
        row = self._row(
            "SELECT min(run_after) AS t FROM files WHERE status = ? AND run_after IS NOT NULL",
            [QUEUED],
        )
        return row["t"] if row else None

    def _finish(self, file_id: str, token: str, values: dict[str, Any]) -> bool:
        assignments = ", ".join(f"{k} = ?" for k in values)
        cursor = self.db.execute(
            f"UPDATE files SET {assignments} WHERE id = ? AND run_token = ? AND status = ?",
            [*values.values(), file_id, token, PROCESSING],
        )
        return cursor.rowcount == 1

    def record_verdict(
        self,
        file_id: str,
        token: str,
        category_id: str | None,
        confidence: float,
        reasoning: str,
        model_name: str,
        confidence_sources: dict[str, float] | None = None,
    ) -> bool:
        return self._finish(
            file_id,
            token,
            {
                "status": PROCESSED,
                "model_category_id": category_id,
                "model_confidence": confidence,
                "model_confidence_sources": json.dumps(confidence_sources or {}),
                "model_reasoning": reasoning,
                "model_name": model_name,
                "error": None,
                "run_after": None,
                "finished_at": now_iso(),
            },
        )

    def record_failure(self, file_id: str, token: str, error: str) -> bool:
        return self._finish(
            file_id,
            token,
            {"status": FAILED, "error": error, "run_after": None, "finished_at": now_iso()},
        )

    def record_document(
        self,
        file_id: str,
        token: str,
        kind: str,
        page_count: int | None,
        pages_used: tuple[int, ...] | None,
    ) -> bool:
        """What reading found the file to be, kept whatever the verdict turns out to be."""
        used = None if pages_used is None else json.dumps(pages_used)
        cursor = self.db.execute(
            "UPDATE files SET document_type = ?, page_count = ?, pages_used = ?"
            " WHERE id = ? AND run_token = ?",
            [kind, page_count, used, file_id, token],
        )
        return cursor.rowcount == 1

    def record_retry(self, file_id: str, token: str, error: str, run_after: float) -> bool:
        return self._finish(
            file_id,
            token,
            {"status": QUEUED, "error": error, "run_after": run_after, "run_token": None},
        )

    def requeue_processing(self) -> int:
        """Put back files a dead (or stopping) process left in processing; their attempt
        did not finish, so it is not counted against them."""
        cursor = self.db.execute(
            "UPDATE files SET status = ?, run_token = NULL, run_after = NULL,"
            " attempts = max(attempts - 1, 0) WHERE status = ?",
            [QUEUED, PROCESSING],
        )
        return cursor.rowcount

    # The user's side: override and redo ----------------------------------------------

    def override_file(self, file_id: str, category_id: str | None) -> None:
        self.db.execute(
            "UPDATE files SET overridden = 1, override_category_id = ?, overridden_at = ?"
            " WHERE id = ?",
            [category_id, now_iso(), file_id],
        )

    def redo_file(self, file_id: str) -> None:
        """Clear the verdict, the override and the error, and queue a fresh run."""
        self.db.execute(
            "UPDATE files SET status = ?, attempts = 0, run_token = NULL, run_after = NULL,"
            " error = NULL, model_category_id = NULL, model_confidence = NULL,"
            " model_confidence_sources = NULL,"
            " model_reasoning = NULL, model_name = NULL, overridden = 0,"
            " override_category_id = NULL, overridden_at = NULL, started_at = NULL,"
            " finished_at = NULL WHERE id = ?",
            [QUEUED, file_id],
        )


class AsyncStore:
    """Awaitable facade over `Store`: each call runs on the store's own thread."""

    def __init__(self, path: Path | str):
        """Opens and migrates the database; call it before the server starts serving."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self.sync = self._executor.submit(Store, path).result()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.sync, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._executor, functools.partial(method, *args, **kwargs)
            )

        return call

    def close(self) -> None:
        self._executor.submit(self.sync.db.conn.close).result()
        self._executor.shutdown()
