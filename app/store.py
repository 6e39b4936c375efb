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
# Webhook deliveries: pending (due now or backing off), sending, delivered, failed (gave up).
PENDING, SENDING, DELIVERED = "pending", "sending", "delivered"
FILE_CLASSIFIED, FILE_PROCESSED = "file.classified", "file.processed"
EVENT_TYPES = (FILE_CLASSIFIED, FILE_PROCESSED)
# What an event's snapshot is: a classification's file (with its chained extraction), or a
# file uploaded to an extraction directly.
CLASSIFICATION_FILE, EXTRACTION_FILE = "classification_file", "extraction_file"
CHAINED, DIRECT = "chained", "direct"

_EXTRACTION_BATCH_COLUMNS = f"""
    b.id, b.extraction_id, b.file_count, b.created_at,
    CASE
        WHEN sum(j.status IN ('{QUEUED}', '{PROCESSING}')) = 0 THEN '{PROCESSED}'
        WHEN sum(j.status != '{QUEUED}') = 0 AND max(j.attempts) = 0 THEN '{QUEUED}'
        ELSE '{PROCESSING}'
    END AS status,
    sum(j.status = '{PROCESSED}') AS processed_count,
    sum(j.status = '{FAILED}') AS failed_count,
    max(j.finished_at) AS last_finished_at
"""
_EXTRACTION_BATCH_JOINS = """
    FROM extraction_batches b JOIN extraction_jobs j ON j.batch_id = b.id
"""
# A file's extraction as the extraction shows it; a chained one names its classification.
_JOB_COLUMNS = """
    j.*, f.classification_id, f.batch_id AS classification_batch_id
    FROM extraction_jobs j LEFT JOIN files f ON f.id = j.file_id
"""

_BATCH_COLUMNS = f"""
    b.id, b.classification_id, b.file_count, b.created_at,
    CASE
        WHEN sum(f.status IN ('{QUEUED}', '{PROCESSING}')) = 0
            AND coalesce(sum(j.status IN ('{QUEUED}', '{PROCESSING}')), 0) = 0 THEN '{PROCESSED}'
        WHEN sum(f.status != '{QUEUED}') = 0 AND max(f.attempts) = 0 THEN '{QUEUED}'
        ELSE '{PROCESSING}'
    END AS status,
    sum(f.status = '{PROCESSED}') AS processed_count,
    sum(f.status = '{FAILED}') AS failed_count,
    count(j.file_id) AS extraction_count,
    coalesce(sum(j.status = '{PROCESSED}'), 0) AS extracted_count,
    coalesce(sum(j.status = '{FAILED}'), 0) AS extraction_failed_count,
    max(max(f.finished_at), coalesce(max(j.finished_at), '')) AS last_finished_at
"""
# A classification batch's files, each with its chained extraction (if any).
_BATCH_JOINS = """
    FROM batches b JOIN files f ON f.batch_id = b.id
    LEFT JOIN extraction_jobs j ON j.file_id = f.id
"""

# The effective verdict is the override when there is one, else the model's.
_FILE_COLUMNS = """
    f.*,
    CASE WHEN f.overridden THEN f.override_category_id ELSE f.model_category_id END
        AS classified_category_id,
    c.name AS classified_category_name,
    c.removed_at IS NOT NULL AS classified_category_removed,
    mc.name AS model_category_name,
    j.extraction_id AS x_extraction_id, j.status AS x_status, j.error AS x_error,
    j.data AS x_data, j.missing_required AS x_missing_required, j.attempts AS x_attempts,
    j.model_name AS x_model_name, j.created_at AS x_created_at, j.started_at AS x_started_at,
    j.finished_at AS x_finished_at
"""
_FILE_JOINS = """
    FROM files f
    LEFT JOIN categories c ON c.id =
        CASE WHEN f.overridden THEN f.override_category_id ELSE f.model_category_id END
    LEFT JOIN categories mc ON mc.id = f.model_category_id
    LEFT JOIN extraction_jobs j ON j.file_id = f.id
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
        with self.db.atomic():
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
        with self.db.atomic():
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
        with self.db.atomic():
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
            f"SELECT {_BATCH_COLUMNS} {_BATCH_JOINS}"
            " WHERE b.id = ? AND b.classification_id = ? GROUP BY b.id",
            [batch_id, cls_id],
        )

    def list_batches(self, cls_id: str) -> list[dict[str, Any]]:
        return self._rows(
            f"SELECT {_BATCH_COLUMNS} {_BATCH_JOINS}"
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
        with self.db.atomic():
            recorded = self._finish(
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
            if recorded:
                self._verdict_changed(file_id)
        return recorded

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
        jobs = self.db.execute(
            "UPDATE extraction_jobs SET status = ?, run_token = NULL, run_after = NULL,"
            " attempts = max(attempts - 1, 0) WHERE status = ?",
            [QUEUED, PROCESSING],
        )
        return cursor.rowcount + jobs.rowcount

    # The user's side: override and redo ----------------------------------------------

    def override_file(self, file_id: str, category_id: str | None) -> None:
        with self.db.atomic():
            self.db.execute(
                "UPDATE files SET overridden = 1, override_category_id = ?, overridden_at = ?"
                " WHERE id = ?",
                [category_id, now_iso(), file_id],
            )
            self._verdict_changed(file_id)

    def redo_file(self, file_id: str) -> None:
        """Clear the verdict, the override and the error (and so the chained extraction),
        and queue a fresh run."""
        with self.db.atomic():
            self._clear_verdict(file_id)
            self._follow_verdict(file_id)

    def _clear_verdict(self, file_id: str) -> None:
        self.db.execute(
            "UPDATE files SET status = ?, attempts = 0, run_token = NULL, run_after = NULL,"
            " error = NULL, model_category_id = NULL, model_confidence = NULL,"
            " model_confidence_sources = NULL,"
            " model_reasoning = NULL, model_name = NULL, overridden = 0,"
            " override_category_id = NULL, overridden_at = NULL, started_at = NULL,"
            " finished_at = NULL WHERE id = ?",
            [QUEUED, file_id],
        )

    # Chaining: a file's extraction follows its verdict ------------------------------------

    def _verdict_changed(self, file_id: str) -> None:
        """After a verdict (the model's or an override) is stored, in its transaction: chain
        the file, then announce the verdict."""
        self._follow_verdict(file_id)
        self._emit(FILE_CLASSIFIED, file_id, CLASSIFICATION_FILE)

    def _follow_verdict(self, file_id: str) -> None:
        """The chaining rule. A file's chained extraction is the one its current verdict's
        category links. One already there for that extraction is kept (unless it failed,
        then it is queued again); any other one is deleted with its result (a run in flight
        finds its token gone and drops what it made); and when the verdict's category links
        an extraction the file has none for, one is queued. No verdict (a redo) or a category
        without a link leaves the file with no extraction at all."""
        row = self._row(
            "SELECT f.id, f.batch_id, f.file_name, f.size_bytes, f.sha256,"
            " f.overridden OR f.status = ? AS has_verdict, c.id AS category_id,"
            " c.linked_extraction_id FROM files f LEFT JOIN categories c ON c.id ="
            "   CASE WHEN f.overridden THEN f.override_category_id ELSE f.model_category_id END"
            " WHERE f.id = ?",
            [PROCESSED, file_id],
        )
        if row is None:
            return
        target = row["linked_extraction_id"] if row["has_verdict"] else None
        job = self._row(
            "SELECT extraction_id, status FROM extraction_jobs WHERE file_id = ?", [file_id]
        )
        if job is not None and job["extraction_id"] == target and job["status"] != FAILED:
            self.db.execute(
                "UPDATE extraction_jobs SET category_id = ? WHERE file_id = ?",
                [row["category_id"], file_id],
            )
            return
        if job is not None:
            self.db.execute("DELETE FROM extraction_jobs WHERE file_id = ?", [file_id])
        if target is not None:
            self._queue_job(
                {
                    "file_id": file_id,
                    "extraction_id": target,
                    "source": CHAINED,
                    "category_id": row["category_id"],
                    "folder": row["batch_id"],
                    "file_name": row["file_name"],
                    "size_bytes": row["size_bytes"],
                    "sha256": row["sha256"],
                }
            )

    def _queue_job(self, values: dict[str, Any]) -> None:
        values = {**values, "status": QUEUED, "attempts": 0, "created_at": now_iso()}
        self.db.execute(
            f"INSERT INTO extraction_jobs ({', '.join(values)})"
            f" VALUES ({', '.join('?' * len(values))})",
            list(values.values()),
        )

    # Extractions -----------------------------------------------------------------------------

    def create_extraction(self, name: str, description: str, fields: list[dict[str, Any]]) -> str:
        ext_id = new_id("ext")
        ts = now_iso()
        self.db.execute(
            "INSERT INTO extractions (id, name, description, fields, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [ext_id, name, description, json.dumps(fields), ts, ts],
        )
        return ext_id

    def get_extraction(self, ext_id: str) -> dict[str, Any] | None:
        row = self._row("SELECT * FROM extractions WHERE id = ?", [ext_id])
        return None if row is None else {**row, "fields": json.loads(row["fields"])}

    def list_extractions(self) -> list[dict[str, Any]]:
        rows = self._rows("SELECT * FROM extractions ORDER BY id")
        return [{**row, "fields": json.loads(row["fields"])} for row in rows]

    def update_extraction(self, ext_id: str, values: dict[str, Any]) -> None:
        """Apply a PATCH: `fields`, when sent, is the whole new list. Results already made
        stay as they were; the next runs use the new fields."""
        if "fields" in values:
            values = {**values, "fields": json.dumps(values["fields"])}
        values = {**values, "updated_at": now_iso()}
        self.db.execute(
            f"UPDATE extractions SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
            [*values.values(), ext_id],
        )

    def extraction_ids(self, ids: list[str]) -> set[str]:
        """Those of `ids` that name an extraction."""
        rows = self._rows(
            f"SELECT id FROM extractions WHERE id IN ({', '.join('?' * len(ids))})", ids
        )
        return {r["id"] for r in rows}

    def create_extraction_batch(
        self, batch_id: str, ext_id: str, files: list[dict[str, Any]]
    ) -> None:
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO extraction_batches (id, extraction_id, file_count, created_at)"
                " VALUES (?, ?, ?, ?)",
                [batch_id, ext_id, len(files), now_iso()],
            )
            for f in files:
                self._queue_job(
                    {
                        "file_id": f["id"],
                        "extraction_id": ext_id,
                        "source": DIRECT,
                        "batch_id": batch_id,
                        "folder": batch_id,
                        "file_name": f["file_name"],
                        "size_bytes": f["size_bytes"],
                        "sha256": f["sha256"],
                    }
                )

    def get_extraction_batch(self, ext_id: str, batch_id: str) -> dict[str, Any] | None:
        return self._row(
            f"SELECT {_EXTRACTION_BATCH_COLUMNS} {_EXTRACTION_BATCH_JOINS}"
            " WHERE b.id = ? AND b.extraction_id = ? GROUP BY b.id",
            [batch_id, ext_id],
        )

    def list_extraction_batches(self, ext_id: str) -> list[dict[str, Any]]:
        return self._rows(
            f"SELECT {_EXTRACTION_BATCH_COLUMNS} {_EXTRACTION_BATCH_JOINS}"
            " WHERE b.extraction_id = ? GROUP BY b.id ORDER BY b.id",
            [ext_id],
        )

    def extraction_batch_files(self, batch_id: str) -> list[dict[str, Any]]:
        return self._rows(
            f"SELECT {_JOB_COLUMNS} WHERE j.batch_id = ? ORDER BY j.file_id", [batch_id]
        )

    def get_extraction_file(self, file_id: str, ext_id: str | None = None) -> dict[str, Any] | None:
        sql = f"SELECT {_JOB_COLUMNS} WHERE j.file_id = ?"
        params = [file_id]
        if ext_id is not None:
            sql += " AND j.extraction_id = ?"
            params.append(ext_id)
        return self._row(sql, params)

    # Extraction jobs: the worker's side -------------------------------------------------------

    def claim_extraction(self, now: float) -> dict[str, Any] | None:
        """Like claim_file, for the oldest runnable extraction job."""
        return self._row(
            f"UPDATE extraction_jobs SET status = '{PROCESSING}', attempts = attempts + 1,"
            " run_token = ?, started_at = ?, error = NULL"
            " WHERE file_id = (SELECT file_id FROM extraction_jobs WHERE status = ?"
            "   AND (run_after IS NULL OR run_after <= ?) ORDER BY created_at, rowid LIMIT 1)"
            " RETURNING *",
            [new_id("run"), now_iso(), QUEUED, now],
        )

    def _finish_job(self, file_id: str, token: str, values: dict[str, Any]) -> bool:
        assignments = ", ".join(f"{k} = ?" for k in values)
        cursor = self.db.execute(
            f"UPDATE extraction_jobs SET {assignments}"
            " WHERE file_id = ? AND run_token = ? AND status = ?",
            [*values.values(), file_id, token, PROCESSING],
        )
        return cursor.rowcount == 1

    def record_extraction(
        self,
        file_id: str,
        token: str,
        data: dict[str, Any],
        missing: list[str],
        model_name: str,
    ) -> bool:
        with self.db.atomic():
            recorded = self._finish_job(
                file_id,
                token,
                {
                    "status": PROCESSED,
                    "data": json.dumps(data),
                    "missing_required": json.dumps(missing),
                    "model_name": model_name,
                    "error": None,
                    "run_after": None,
                    "finished_at": now_iso(),
                },
            )
            if recorded:
                self._job_done(file_id)
        return recorded

    def record_extraction_failure(self, file_id: str, token: str, error: str) -> bool:
        with self.db.atomic():
            recorded = self._finish_job(
                file_id,
                token,
                {"status": FAILED, "error": error, "run_after": None, "finished_at": now_iso()},
            )
            if recorded:
                self._job_done(file_id)
        return recorded

    def record_extraction_retry(
        self, file_id: str, token: str, error: str, run_after: float
    ) -> bool:
        return self._finish_job(
            file_id,
            token,
            {"status": QUEUED, "error": error, "run_after": run_after, "run_token": None},
        )

    def _job_done(self, file_id: str) -> None:
        job = self._row("SELECT source FROM extraction_jobs WHERE file_id = ?", [file_id])
        subject = CLASSIFICATION_FILE if job and job["source"] == CHAINED else EXTRACTION_FILE
        self._emit(FILE_PROCESSED, file_id, subject)

    # Webhooks and their outbox --------------------------------------------------------------

    def create_webhook(self, url: str, events: list[str], secret: str) -> str:
        hook_id = new_id("wh")
        self.db.execute(
            "INSERT INTO webhooks (id, url, events, secret, created_at) VALUES (?, ?, ?, ?, ?)",
            [hook_id, url, json.dumps(events), secret, now_iso()],
        )
        return hook_id

    def get_webhook(self, hook_id: str) -> dict[str, Any] | None:
        row = self._row("SELECT * FROM webhooks WHERE id = ?", [hook_id])
        return None if row is None else {**row, "events": json.loads(row["events"])}

    def list_webhooks(self) -> list[dict[str, Any]]:
        rows = self._rows("SELECT * FROM webhooks ORDER BY id")
        return [{**row, "events": json.loads(row["events"])} for row in rows]

    def delete_webhook(self, hook_id: str) -> None:
        """The webhook, its deliveries and their attempts; events no one else awaits."""
        with self.db.atomic():
            self.db.execute(
                "DELETE FROM webhook_attempts WHERE delivery_id IN"
                " (SELECT id FROM webhook_deliveries WHERE webhook_id = ?)",
                [hook_id],
            )
            self.db.execute("DELETE FROM webhook_deliveries WHERE webhook_id = ?", [hook_id])
            self.db.execute("DELETE FROM webhooks WHERE id = ?", [hook_id])
            self.db.execute(
                "DELETE FROM webhook_events WHERE id NOT IN"
                " (SELECT event_id FROM webhook_deliveries)"
            )

    def _emit(self, event_type: str, file_id: str, subject: str) -> None:
        """Record an event and one pending delivery per webhook that wants it, in the caller's
        transaction: if the change it announces is stored, so is the event."""
        hooks = self._rows(
            "SELECT id FROM webhooks w WHERE EXISTS"
            " (SELECT 1 FROM json_each(w.events) WHERE value = ?) ORDER BY id",
            [event_type],
        )
        if not hooks:
            return
        row = (
            self.get_file(file_id)
            if subject == CLASSIFICATION_FILE
            else self.get_extraction_file(file_id)
        )
        event_id, ts = new_id("evt"), now_iso()
        self.db.execute(
            "INSERT INTO webhook_events (id, type, file_id, subject, snapshot, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [event_id, event_type, file_id, subject, json.dumps(row), ts],
        )
        for hook in hooks:
            self.db.execute(
                "INSERT INTO webhook_deliveries (id, webhook_id, event_id, file_id, status,"
                " attempts, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 0, 0, ?)",
                [new_id("dlv"), hook["id"], event_id, file_id, PENDING, ts],
            )

    def claim_delivery(self, now: float) -> dict[str, Any] | None:
        """The oldest due delivery, moved to sending, with its event and webhook. Events about
        one file reach one webhook in order: a delivery waits while an earlier one for the
        same file and webhook is pending (even one backing off) or being sent."""
        with self.db.atomic():
            delivery = self._row(
                f"UPDATE webhook_deliveries SET status = '{SENDING}', attempts = attempts + 1,"
                " run_token = ? WHERE rowid = (SELECT d.rowid FROM webhook_deliveries d"
                "   WHERE d.status = ? AND d.next_attempt_at <= ? AND NOT EXISTS ("
                "     SELECT 1 FROM webhook_deliveries o WHERE o.webhook_id = d.webhook_id"
                "     AND o.file_id = d.file_id AND o.status IN (?, ?) AND o.rowid < d.rowid)"
                "   ORDER BY d.rowid LIMIT 1)"
                " RETURNING *",
                [new_id("run"), PENDING, now, PENDING, SENDING],
            )
            if delivery is None:
                return None
            event = self._row("SELECT * FROM webhook_events WHERE id = ?", [delivery["event_id"]])
            hook = self._row(
                "SELECT url, secret FROM webhooks WHERE id = ?", [delivery["webhook_id"]]
            )
        assert event is not None and hook is not None
        return {**delivery, "event": event, "url": hook["url"], "secret": hook["secret"]}

    def record_attempt(
        self,
        delivery_id: str,
        token: str,
        attempt: dict[str, Any],
        *,
        delivered: bool,
        retry_at: float | None,
    ) -> bool:
        """Log one attempt, and mark the delivery delivered, pending again until `retry_at`,
        or failed for good. False when the delivery is gone (its webhook deleted)."""
        status = DELIVERED if delivered else (PENDING if retry_at is not None else FAILED)
        with self.db.atomic():
            cursor = self.db.execute(
                "UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?, run_token = NULL,"
                " delivered_at = ? WHERE id = ? AND run_token = ? AND status = ?",
                [
                    status,
                    retry_at if retry_at is not None else 0,
                    now_iso() if delivered else None,
                    delivery_id,
                    token,
                    SENDING,
                ],
            )
            if cursor.rowcount != 1:
                return False
            values = {"delivery_id": delivery_id, **attempt}
            self.db.execute(
                f"INSERT INTO webhook_attempts ({', '.join(values)})"
                f" VALUES ({', '.join('?' * len(values))})",
                list(values.values()),
            )
        return True

    def requeue_deliveries(self) -> int:
        """Put back deliveries a dead (or stopping) process left sending: their attempt was
        not recorded, so it does not count (the receiver may still get the event twice)."""
        cursor = self.db.execute(
            "UPDATE webhook_deliveries SET status = ?, run_token = NULL,"
            " attempts = max(attempts - 1, 0) WHERE status = ?",
            [PENDING, SENDING],
        )
        return cursor.rowcount

    def next_delivery_at(self) -> float | None:
        row = self._row(
            "SELECT min(next_attempt_at) AS t FROM webhook_deliveries WHERE status = ?",
            [PENDING],
        )
        return row["t"] if row else None

    def list_deliveries(self, hook_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The latest deliveries first, each with its attempts in order."""
        deliveries = self._rows(
            "SELECT d.*, e.type AS event_type, e.created_at AS event_created_at"
            " FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id"
            " WHERE d.webhook_id = ? ORDER BY d.rowid DESC LIMIT ?",
            [hook_id, limit],
        )
        ids = [d["id"] for d in deliveries]
        attempts: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        for row in self._rows(
            f"SELECT * FROM webhook_attempts WHERE delivery_id IN ({', '.join('?' * len(ids))})"
            " ORDER BY id",
            ids,
        ):
            attempts[row["delivery_id"]].append(row)
        return [{**d, "attempt_log": attempts[d["id"]]} for d in deliveries]


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
