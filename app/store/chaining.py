"""Chaining: a file's extraction follows its verdict."""

from __future__ import annotations

from .base import (
    CHAINED,
    CLASSIFICATION_FILE,
    FAILED,
    FILE_CLASSIFIED,
    PROCESSED,
    StoreBase,
)


class ChainingStore(StoreBase):
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
