"""The SQLite store: every SQL statement docsort runs lives in this package, one module per
resource, composed into `Store`.

`Store` is synchronous and owns one connection; `AsyncStore` runs its methods on a single
dedicated thread so the event loop never waits on SQLite and writes never interleave.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..trace import step
from .base import (
    CHAINED,
    CLASSIFICATION_FILE,
    DIRECT,
    EVENT_TYPES,
    EXTRACTION_FILE,
    FAILED,
    FILE_CLASSIFIED,
    FILE_PROCESSED,
    PROCESSED,
    PROCESSING,
    QUEUED,
    now_iso,
)
from .chaining import ChainingStore
from .classifications import ClassificationStore
from .extractions import ExtractionStore
from .files import FileStore
from .learning import LearningStore
from .review import ReviewStore
from .versions import VersionStore
from .webhooks import DELIVERED, PENDING, SENDING, WebhookStore

__all__ = [
    "CHAINED",
    "CLASSIFICATION_FILE",
    "DELIVERED",
    "DIRECT",
    "EVENT_TYPES",
    "EXTRACTION_FILE",
    "FAILED",
    "FILE_CLASSIFIED",
    "FILE_PROCESSED",
    "PENDING",
    "PROCESSED",
    "PROCESSING",
    "QUEUED",
    "SENDING",
    "AsyncStore",
    "Store",
    "now_iso",
]


class Store(
    ClassificationStore,
    FileStore,
    LearningStore,
    ChainingStore,
    ExtractionStore,
    WebhookStore,
    VersionStore,
    ReviewStore,
):
    """Every resource's statements over one connection."""


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
            with step("store"):
                return await loop.run_in_executor(
                    self._executor, functools.partial(method, *args, **kwargs)
                )

        return call

    def close(self) -> None:
        self._executor.submit(self.sync.db.conn.close).result()
        self._executor.shutdown()
