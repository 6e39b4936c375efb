"""What every part of the store shares: the connection, the row helpers, the statuses.

Each resource's SQL is a mixin over `StoreBase`; `app.store.Store` composes them, so a
mixin may call another's methods (a verdict queues an extraction and emits an event).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from ..migrations import migrate

QUEUED, PROCESSING, PROCESSED, FAILED = "queued", "processing", "processed", "failed"
FILE_CLASSIFIED, FILE_PROCESSED = "file.classified", "file.processed"
EVENT_TYPES = (FILE_CLASSIFIED, FILE_PROCESSED)
# What an event's snapshot is: a classification's file (with its chained extraction), or a
# file uploaded to an extraction directly.
CLASSIFICATION_FILE, EXTRACTION_FILE = "classification_file", "extraction_file"
CHAINED, DIRECT = "chained", "direct"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StoreBase:
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

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """A write transaction that takes the write lock at BEGIN (IMMEDIATE), waiting for it
        if another process holds it. A deferred one could find, once it writes, that another
        process wrote first, and SQLite would refuse it at once ("database is locked")
        instead of waiting. Nested: a savepoint."""
        if self.db.conn.in_transaction:
            with self.atomic():
                yield
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _rows(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params))

    def _row(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def check(self) -> bool:
        return self.db.execute("SELECT 1").fetchone()[0] == 1
