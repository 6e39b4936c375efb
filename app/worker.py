"""The asyncio worker: claims queued files, reads them, asks the classifier, stores verdicts.

A file moves queued -> processing -> processed | failed. A model server that is down is not
the file's fault: the file goes back to queued with a backoff, up to `max_attempts` tries.
Files a dead process left in processing are re-queued when the worker starts.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from pathlib import Path
from typing import Any

from .errors import ModelUnavailable
from .extraction import Extractor, InvalidExtraction
from .loops import Loops
from .reading import UnreadableFile, read_document
from .store import AsyncStore
from .verdict.classifier import Classifier, InvalidAnswer

log = logging.getLogger(__name__)


def backoff(attempts: int) -> float:
    """Seconds before a retry: exponential with jitter, capped at five minutes."""
    return min(2.0**attempts, 300.0) * (0.5 + random.random())


class Worker:
    def __init__(
        self,
        store: AsyncStore,
        classifier: Classifier,
        uploads_dir: Path,
        *,
        concurrency: int,
        max_attempts: int,
        read_tokens: int,
        poll_seconds: float = 1.0,
        extractor: Extractor | None = None,
        extract_tokens: int = 1000,
    ):
        self.store = store
        self.classifier = classifier
        self.uploads_dir = uploads_dir
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.read_tokens = read_tokens  # how much of a file is read to classify it
        self.extractor = extractor
        self.extract_tokens = extract_tokens
        self._loops = Loops(self.process_one, "worker", poll_seconds)

    def wake(self) -> None:
        self._loops.wake()

    async def start(self) -> None:
        requeued = await self.store.requeue_processing()
        if requeued:
            log.info("re-queued %d file(s) left in processing by an earlier run", requeued)
        self._loops.start(self.concurrency)

    async def stop(self, grace: float = 30.0) -> None:
        """Stop claiming, give in-flight files `grace` seconds, then cancel and re-queue them."""
        await self._loops.stop(grace)
        await self.store.requeue_processing()

    async def drain(self) -> int:
        """Burst mode: process files until none is runnable now; returns how many ran."""
        count = 0
        while await self.process_one():
            count += 1
        return count

    async def process_one(self) -> bool:
        """Run one piece of work: an extraction job first (finishing files already under
        way), else a file to classify. False when nothing is runnable now."""
        if self.extractor is not None and await self._extract_one():
            return True
        job = await self.store.claim_file(time.time())
        if job is None:
            return False
        try:
            await self._run(job)
        except Exception as exc:
            log.exception("file %s failed unexpectedly", job["id"])
            await self.store.record_failure(job["id"], job["run_token"], f"internal error: {exc}")
        return True

    async def _run(self, job: dict[str, Any]) -> None:
        file_id, token = job["id"], job["run_token"]
        path = self.uploads_dir / job["batch_id"] / file_id
        try:
            document = await asyncio.to_thread(read_document, path, self.read_tokens)
        except UnreadableFile as exc:
            await self.store.record_failure(file_id, token, str(exc))
            return
        await self.store.record_document(
            file_id, token, document.kind, document.page_count, document.pages_used
        )
        if not document.text.strip():
            reasoning = document.no_text_reason
            await self.store.record_verdict(file_id, token, None, 1.0, reasoning, "")
            return
        classification = await self.store.get_classification(job["classification_id"])
        try:
            verdict = await self.classifier.classify(classification, document.text)
        except InvalidAnswer as exc:
            await self.store.record_failure(file_id, token, str(exc))
            return
        except ModelUnavailable as exc:
            await self._model_down(job, exc, self.store.record_failure, self.store.record_retry)
            return
        await self.store.record_verdict(
            file_id,
            token,
            verdict.category_id,
            verdict.confidence,
            verdict.reasoning,
            self.classifier.model.model,
            verdict.confidence_sources,
            verdict.evidence,
        )

    async def _model_down(
        self, job: dict[str, Any], exc: ModelUnavailable, fail: Any, retry: Any
    ) -> None:
        """A model server that is down is not the file's fault: retry it later with a
        backoff, and fail it only after max_attempts."""
        file_id, token = job.get("file_id") or job["id"], job["run_token"]
        if job["attempts"] >= self.max_attempts:
            await fail(file_id, token, f"gave up after {job['attempts']} attempts: {exc.message}")
            return
        log.warning("model unavailable for %s, will retry: %s", file_id, exc.message)
        await retry(file_id, token, exc.message, time.time() + backoff(job["attempts"]))

    # Extraction jobs: direct uploads, and files chained by their verdict ----------------------

    async def _extract_one(self) -> bool:
        job = await self.store.claim_extraction(time.time())
        if job is None:
            return False
        try:
            await self._run_extraction(job)
        except Exception as exc:
            log.exception("extraction of %s failed unexpectedly", job["file_id"])
            await self.store.record_extraction_failure(
                job["file_id"], job["run_token"], f"internal error: {exc}"
            )
        return True

    async def _run_extraction(self, job: dict[str, Any]) -> None:
        assert self.extractor is not None
        file_id, token = job["file_id"], job["run_token"]
        path = self.uploads_dir / job["folder"] / file_id
        try:
            document = await asyncio.to_thread(read_document, path, self.extract_tokens)
        except UnreadableFile as exc:
            await self.store.record_extraction_failure(file_id, token, str(exc))
            return
        extraction = await self.store.get_extraction(job["extraction_id"])
        if extraction is None:
            await self.store.record_extraction_failure(
                file_id, token, f"the extraction {job['extraction_id']!r} does not exist"
            )
            return
        try:
            extracted = await self.extractor.extract(extraction, document.text)
        except InvalidExtraction as exc:
            await self.store.record_extraction_failure(file_id, token, str(exc))
            return
        except ModelUnavailable as exc:
            await self._model_down(
                job, exc, self.store.record_extraction_failure, self.store.record_extraction_retry
            )
            return
        await self.store.record_extraction(
            file_id,
            token,
            extracted.data,
            extracted.missing_required,
            self.extractor.model.model if document.text.strip() else "",
        )
