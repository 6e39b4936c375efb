"""Extraction templates, their direct batches, and the jobs the worker runs (direct or
chained from a verdict)."""

from __future__ import annotations

import json
import time
from typing import Any

from ..ids import new_id
from ..jobs import EXTRACTIONS, Status
from .base import (
    CHAINED,
    CLASSIFICATION_FILE,
    DIRECT,
    EXTRACTION_FILE,
    FAILED,
    FILE_PROCESSED,
    PROCESSED,
    PROCESSING,
    QUEUED,
    now_iso,
)
from .jobs import JobStore

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


class ExtractionStore(JobStore):
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
        with self.atomic():
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

    # The text a chained extraction reads, kept from the file's classification run ----------

    def record_extraction_text(self, file_id: str, token: str, tokens: int, text: str) -> bool:
        """Keep what the classification run holding `token` read for the file's extraction
        (cut to `tokens`), replacing what an earlier run kept; a run that no longer holds the
        file (redone under it) keeps nothing."""
        cursor = self.db.execute(
            "INSERT INTO extraction_texts (file_id, tokens, text, created_at)"
            " SELECT id, ?, ?, ? FROM files WHERE id = ? AND run_token = ?"
            " ON CONFLICT (file_id) DO UPDATE SET tokens = excluded.tokens,"
            " text = excluded.text, created_at = excluded.created_at",
            [tokens, text, now_iso(), file_id, token],
        )
        return cursor.rowcount == 1

    def extraction_text(self, file_id: str, tokens: int) -> str | None:
        """The file's kept text when it was cut to `tokens`, else None: read the file."""
        row = self._row(
            "SELECT text FROM extraction_texts WHERE file_id = ? AND tokens = ?", [file_id, tokens]
        )
        return None if row is None else row["text"]

    # Extraction jobs: the worker's side -------------------------------------------------------

    def claim_extraction(self, owner: str, now: float | None = None) -> dict[str, Any] | None:
        """Like claim_file, for the first runnable extraction job."""
        return self._claim(
            EXTRACTIONS,
            owner,
            "SELECT file_id FROM extraction_jobs WHERE status = ?"
            " AND (run_after IS NULL OR run_after <= ?) ORDER BY queued_at, rowid LIMIT 1",
            [QUEUED, time.time() if now is None else now],
            {"started_at": now_iso(), "error": None},
        )

    def _finish_job(self, file_id: str, token: str, values: dict[str, Any]) -> bool:
        target = Status.DONE if values.pop("status") == PROCESSED else Status.FAILED
        return self._finish_run(EXTRACTIONS, target, file_id, token, {**values, "owner": None})

    def record_extraction(
        self,
        file_id: str,
        token: str,
        data: dict[str, Any],
        missing: list[str],
        model_name: str,
    ) -> bool:
        with self.atomic():
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
        with self.atomic():
            recorded = self._finish_job(
                file_id,
                token,
                {"status": FAILED, "error": error, "run_after": None, "finished_at": now_iso()},
            )
            if recorded:
                self._job_done(file_id)
        return recorded

    def _job_done(self, file_id: str) -> None:
        job = self._row("SELECT source FROM extraction_jobs WHERE file_id = ?", [file_id])
        subject = CLASSIFICATION_FILE if job and job["source"] == CHAINED else EXTRACTION_FILE
        self._emit(FILE_PROCESSED, file_id, subject)

    def _queue_job(self, values: dict[str, Any]) -> None:
        values = {
            **values,
            "status": QUEUED,
            "attempts": 0,
            "created_at": now_iso(),
            "queued_at": time.time(),
        }
        self.db.execute(
            f"INSERT INTO extraction_jobs ({', '.join(values)})"
            f" VALUES ({', '.join('?' * len(values))})",
            list(values.values()),
        )
