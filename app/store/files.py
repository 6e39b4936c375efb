"""Classification batches and their files: reading them, the worker's claim and finish, and
the user's override and redo."""

from __future__ import annotations

import json
import time
from typing import Any

from ..jobs import EXTRACTIONS, FILES, Status
from .base import FAILED, PROCESSED, PROCESSING, QUEUED, now_iso
from .jobs import JobStore

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


class FileStore(JobStore):
    # Batches and files --------------------------------------------------------------------

    def create_batch(
        self,
        batch_id: str,
        cls_id: str,
        files: list[dict[str, Any]],
        examples_for: str | None = None,
    ) -> None:
        """A batch to classify, or (`examples_for` a category) example files of that
        category: read and embedded like a batch, never classified, left out of listings."""
        ts, queued_at = now_iso(), time.time()
        with self.atomic():
            self.db["batches"].insert(
                {
                    "id": batch_id,
                    "classification_id": cls_id,
                    "file_count": len(files),
                    "created_at": ts,
                    "examples_for": examples_for,
                }
            )
            self.db["files"].insert_all(
                {
                    **f,
                    "batch_id": batch_id,
                    "classification_id": cls_id,
                    "example_category_id": examples_for,
                    "status": QUEUED,
                    "attempts": 0,
                    "overridden": 0,
                    "created_at": ts,
                    "queued_at": queued_at,
                }
                for f in files
            )

    def get_batch(self, cls_id: str, batch_id: str) -> dict[str, Any] | None:
        return self._row(
            f"SELECT {_BATCH_COLUMNS} {_BATCH_JOINS}"
            " WHERE b.id = ? AND b.classification_id = ? AND b.examples_for IS NULL GROUP BY b.id",
            [batch_id, cls_id],
        )

    def list_batches(self, cls_id: str) -> list[dict[str, Any]]:
        return self._rows(
            f"SELECT {_BATCH_COLUMNS} {_BATCH_JOINS}"
            " WHERE b.classification_id = ? AND b.examples_for IS NULL GROUP BY b.id ORDER BY b.id",
            [cls_id],
        )

    def batch_ids(self) -> set[str]:
        """Every batch's id, of either kind: the names of the folders its files are in."""
        rows = self._rows("SELECT id FROM batches UNION SELECT id FROM extraction_batches")
        return {r["id"] for r in rows}

    def batch_files(self, batch_id: str) -> list[dict[str, Any]]:
        return self._mark_stale(  # type: ignore[attr-defined]
            self._rows(
                f"SELECT {_FILE_COLUMNS} {_FILE_JOINS} WHERE f.batch_id = ? ORDER BY f.id",
                [batch_id],
            )
        )

    def get_file(self, file_id: str, cls_id: str | None = None) -> dict[str, Any] | None:
        """A file to classify (never an example file)."""
        sql = (
            f"SELECT {_FILE_COLUMNS} {_FILE_JOINS} WHERE f.id = ? AND f.example_category_id IS NULL"
        )
        params = [file_id]
        if cls_id is not None:
            sql += " AND f.classification_id = ?"
            params.append(cls_id)
        rows = self._mark_stale(self._rows(sql, params))  # type: ignore[attr-defined]
        return rows[0] if rows else None

    # The worker's side: claim, finish, fail ---------------------------------------

    def claim_file(self, owner: str, now: float | None = None) -> dict[str, Any] | None:
        """Move the first runnable queued file to processing, for `owner`.

        The fresh run_token lets a finishing run notice that the file was redone or
        re-queued under it, and drop its now-stale result."""
        return self._claim(
            FILES,
            owner,
            "SELECT id FROM files WHERE status = ? AND (run_after IS NULL OR run_after <= ?)"
            " ORDER BY queued_at, rowid LIMIT 1",
            [QUEUED, time.time() if now is None else now],
            {"started_at": now_iso(), "error": None},
        )

    def next_run_after(self) -> float | None:
        row = self._row(
            "SELECT min(run_after) AS t FROM files WHERE status = ? AND run_after IS NOT NULL",
            [QUEUED],
        )
        return row["t"] if row else None

    def _finish(self, file_id: str, token: str, values: dict[str, Any]) -> bool:
        target = Status.DONE if values.pop("status") == PROCESSED else Status.FAILED
        return self._finish_run(FILES, target, file_id, token, {**values, "owner": None})

    def record_verdict(
        self,
        file_id: str,
        token: str,
        category_id: str | None,
        confidence: float,
        reasoning: str,
        model_name: str,
        confidence_sources: dict[str, float] | None = None,
        evidence: dict[str, Any] | None = None,
        source: str = "model",
    ) -> bool:
        """The machine verdict; `source` says who made it: "model" or "examples" alone."""
        with self.atomic():
            recorded = self._finish(
                file_id,
                token,
                {
                    "status": PROCESSED,
                    "model_category_id": category_id,
                    "model_confidence": confidence,
                    "model_confidence_sources": json.dumps(confidence_sources or {}),
                    "model_evidence": json.dumps(evidence) if evidence else None,
                    "model_reasoning": reasoning,
                    "model_name": model_name,
                    "model_source": source,
                    "definition_version": self._version_at_start(file_id),  # type: ignore[attr-defined]
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

    # The user's side: override and redo ----------------------------------------------

    def override_file(self, file_id: str, category_id: str | None) -> None:
        """A person's verdict, and so the file's label."""
        with self.atomic():
            self.db.execute(
                "UPDATE files SET overridden = 1, override_category_id = ?, overridden_at = ?"
                " WHERE id = ?",
                [category_id, now_iso(), file_id],
            )
            self._record_check(file_id, "override")
            self._verdict_changed(file_id)

    def redo_file(self, file_id: str) -> None:
        """Clear the verdict, the override and the error (and so the chained extraction),
        and queue a fresh run."""
        with self.atomic():
            self._clear_verdict(file_id)
            self._follow_verdict(file_id)

    def redo_batch(self, batch_id: str, failed_only: bool) -> int:
        """Queue again a batch's failed files and failed chained extractions (or, not
        `failed_only`, every file); a person's override stays: it is their verdict."""
        with self.atomic():
            files = self._rows(
                "SELECT f.id FROM files f WHERE f.batch_id = ? AND NOT f.overridden"
                " AND (? = 0 OR f.status = ?)",
                [batch_id, int(failed_only), FAILED],
            )
            for row in files:
                self._clear_verdict(row["id"])
                self._follow_verdict(row["id"])
            jobs = self.transition(
                EXTRACTIONS,
                Status.QUEUED,
                "file_id IN (SELECT id FROM files WHERE batch_id = ?)",
                [batch_id],
                {
                    **dict.fromkeys(["error", "run_token", "run_after", "finished_at"]),
                    "attempts": 0,
                    "interruptions": 0,
                    "retries": 0,
                    "queued_at": time.time(),
                },
                allowed=frozenset({Status.FAILED}),
            )
        return len(files) + len(jobs)

    def _clear_verdict(self, file_id: str) -> None:
        """A fresh job: its attempts and interruptions start again from nothing, and the text
        kept for its extraction goes (the fresh run reads the file again)."""
        cleared = (
            "run_token run_after error model_category_id model_confidence"
            " model_confidence_sources model_evidence model_reasoning model_name model_source"
            " override_category_id overridden_at checked_at started_at finished_at owner"
            " heartbeat_at"
        ).split()
        queued = self.transition(
            FILES,
            Status.QUEUED,
            "id = ?",
            [file_id],
            {
                **dict.fromkeys(cleared),
                "attempts": 0,
                "interruptions": 0,
                "retries": 0,
                "overridden": 0,
                "queued_at": time.time(),
            },
        )
        if queued:
            self.db.execute("DELETE FROM extraction_texts WHERE file_id = ?", [file_id])
