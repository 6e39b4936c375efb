"""The asyncio worker: claims queued files, reads them, embeds them, asks the classifier
(with what the labelled examples say), stores verdicts. An example file is read and
embedded only: from then on it teaches.

Files and extraction jobs follow the job model of app/jobs.py. While the model server is
down nothing is claimed (app/outage.py); an error about the file itself fails it, or is
retried with a backoff up to `max_attempts`; a run past `job_timeout` fails; a run whose
process died is swept back into the queue by whichever worker sees it first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError, ModelUnavailable
from .extraction import Extractor, InvalidExtraction
from .jobs import EXTRACTIONS, FILES, Queue, new_owner, next_retry_delay, sweep
from .loops import Loops
from .model import ModelClient
from .outage import Outage, WorkerState
from .reading import Document, UnreadableFile, read_document, read_documents
from .store import AsyncStore
from .trace import Traces, step
from .verdict.classifier import NONE, Classifier, InvalidAnswer
from .verdict.examples import Example, Learned

log = logging.getLogger(__name__)

Fail = Callable[[str, str, str], Awaitable[bool]]


@dataclass
class Lane:
    """One model host: the classifier and extractor that ask it, how many jobs it takes at
    once, and whether it answers (app/outage.py)."""

    classifier: Classifier
    extractor: Extractor | None = None
    slots: int = 1
    outage: Outage = field(init=False)

    def __post_init__(self) -> None:
        self.outage = Outage(self._answers)

    @property
    def model(self) -> ModelClient:
        return self.classifier.model

    async def _answers(self) -> bool:
        return bool((await self.model.status())["ok"])


class Worker:
    def __init__(
        self,
        store: AsyncStore,
        lanes: list[Lane],
        uploads_dir: Path,
        *,
        max_attempts: int,
        read_tokens: int,
        poll_seconds: float = 1.0,
        extract_tokens: int = 1000,
        job_timeout: float = 600.0,
        stale_seconds: float = 30.0,
        owner: str | None = None,
    ):
        """One loop per slot of each lane: a host that is down idles its own loops only."""
        self.store = store
        self.lanes = lanes
        self.uploads_dir = uploads_dir
        self.max_attempts = max_attempts
        self.read_tokens = read_tokens  # how much of a file is read to classify it
        self.extract_tokens = extract_tokens
        self.job_timeout = job_timeout
        self.stale_seconds = stale_seconds
        self.owner = owner or new_owner()
        self._loops = Loops("worker", poll_seconds, self.upkeep, stale_seconds / 6)
        self._anchors: dict[tuple[str, str], np.ndarray] = {}
        self.traces = Traces()  # where each recent job's time went (app/trace.py)

    def wake(self) -> None:
        self._loops.wake()

    async def start(self) -> None:
        await self.upkeep()
        self._loops.start(
            [partial(self.process_one, lane) for lane in self.lanes for _ in range(lane.slots)]
        )

    async def stop(self, grace: float = 30.0) -> None:
        """Stop claiming, give in-flight files `grace` seconds, then cancel them and hand
        them back to the queue."""
        await self._loops.stop(grace)
        await self.store.release(self.owner)

    async def upkeep(self) -> None:
        """Keep this process's runs alive and sweep those of dead ones."""
        await self.store.heartbeat(self.owner, (FILES, EXTRACTIONS))
        await sweep(self.store, self.stale_seconds, self.max_attempts, (FILES, EXTRACTIONS))

    async def drain(self) -> int:
        """Burst mode: process files until none is runnable now; returns how many ran."""
        count = 0
        while await self.process_one():
            count += 1
        return count

    def state(self) -> WorkerState:
        """Working while any host answers; else waiting, since the first went down."""
        states = [lane.outage.state() for lane in self.lanes]
        waiting = [s for s in states if s.state != "working"]
        if len(waiting) < len(states):
            return WorkerState("working")
        return min(waiting, key=lambda s: s.since or "")

    async def process_one(self, lane: Lane | None = None) -> bool:
        """Run one piece of work on `lane` (default: the first that answers): an extraction
        job first (finishing files already under way), else a file to classify. False when
        nothing is runnable now, or the host is down."""
        lanes = self.lanes if lane is None else [lane]
        for candidate in lanes:
            if await candidate.outage.ready():
                lane = candidate
                break
        else:
            return False
        if lane.extractor is not None:
            job = await self.store.claim_extraction(self.owner)
            if job is not None:
                await self._guarded(
                    job,
                    job["file_id"],
                    EXTRACTIONS,
                    lane,
                    self._run_extraction,
                    self.store.record_extraction_failure,
                )
                return True
        job = await self.store.claim_file(self.owner)
        if job is None:
            return False
        await self._guarded(job, job["id"], FILES, lane, self._run, self.store.record_failure)
        return True

    async def _guarded(
        self,
        job: dict[str, Any],
        key: str,
        queue: Queue,
        lane: Lane,
        run: Callable[[dict[str, Any], Lane], Awaitable[None]],
        fail: Fail,
    ) -> None:
        """One run under the job's time limit; the model's errors decided here: an outage
        puts the job back in its place (another host may take it), an error about this job
        counts against it."""
        token = job["run_token"]
        try:
            async with asyncio.timeout(self.job_timeout):
                with self.traces.job(key, queue.table):
                    await run(job, lane)
        except TimeoutError:
            await fail(
                key,
                token,
                f"took longer than {self.job_timeout:g} s (DOCSORT_JOB_TIMEOUT), so it was stopped",
            )
        except ModelUnavailable as exc:
            log.warning("model server down while on %s; waiting for it: %s", key, exc.message)
            lane.outage.report(exc.message)
            await self.store.requeue_run(queue, key, token, exc.message, None)
            self.wake()
        except ModelError as exc:
            tries = job["retries"] + 1
            if tries >= self.max_attempts:
                await fail(key, token, f"gave up after {tries} tries: {exc.message}")
            else:
                retry_at = time.time() + next_retry_delay(tries)
                await self.store.requeue_run(queue, key, token, exc.message, retry_at)
        except Exception as exc:
            log.exception("%s failed unexpectedly", key)
            await fail(key, token, f"internal error: {exc}")

    @property
    def embed_model(self) -> str:
        return self.lanes[0].model.embed_model

    async def _embedding(
        self, file_id: str, text: str, lane: Lane
    ) -> tuple[np.ndarray | None, bool]:
        """The file's vector, and whether it is new: embedded once, then reused (a redo
        reads the same bytes)."""
        if not self.embed_model:
            return None, False
        vector = await self.store.get_embedding(file_id, self.embed_model)
        if vector is not None:
            return vector, False
        part = await asyncio.to_thread(lane.classifier.embedded, text)
        return np.asarray(await lane.model.embed(part), dtype=np.float32), True

    async def _learned(
        self,
        job: dict[str, Any],
        classification: dict[str, Any],
        vector: np.ndarray | None,
        lane: Lane,
    ) -> Learned | None:
        """What the classification's labelled examples, and with none yet its categories'
        descriptions, say about this file."""
        if vector is None:
            return None
        rows = await self.store.labelled_vectors(job["classification_id"], self.embed_model)
        names = {c["id"]: c["name"] for c in classification["categories"]}
        examples = [
            Example(r["id"], r["file_name"], names.get(r["label_id"], NONE), r["vector"])
            for r in rows
            if r["id"] != job["id"] and (r["label_id"] is None or r["label_id"] in names)
        ]
        mean = await self.store.mean_vector(job["classification_id"], self.embed_model)
        anchors = [
            Example(c["id"], c["name"], c["name"], await self._anchor(c, lane))
            for c in classification["categories"]
        ]
        return await asyncio.to_thread(
            lane.classifier.learner.learn, examples, anchors, mean, vector, [*names.values(), NONE]
        )

    async def _anchor(self, category: dict[str, Any], lane: Lane) -> np.ndarray:
        """A category's description embedded, once per wording while the process runs."""
        text = f"{category['name']}: {category['description']}".strip()
        key = (self.embed_model, text)
        if key not in self._anchors:
            self._anchors[key] = np.asarray(await lane.model.embed(text), np.float32)
        return self._anchors[key]

    async def _read(self, job: dict[str, Any], chains: bool = False) -> Document | None:
        """The file's text, its document info stored; None when it failed (and is stored so).

        When the file may chain an extraction (`chains`), the same read gives the text the
        extraction reads too, kept in the store for it: the file is read once, not once a job.
        The classifier's budget comes first and its text is what a read for it alone gives,
        so verdicts do not depend on it."""
        file_id, token = job["id"], job["run_token"]
        path = self.uploads_dir / job["batch_id"] / file_id
        budgets = [self.read_tokens, self.extract_tokens] if chains else [self.read_tokens]
        with step("read"):
            document, *more = await asyncio.to_thread(read_documents, path, budgets)
        if isinstance(document, UnreadableFile):
            await self.store.record_failure(file_id, token, str(document))
            return None
        await self.store.record_document(
            file_id, token, document.kind, document.page_count, document.pages_used
        )
        # Kept only when read: failed for the extraction's budget alone, the file is read by
        # the extraction's job, which then says why.
        if more and isinstance(extracted := more[0], Document):
            await self.store.record_extraction_text(
                file_id, token, self.extract_tokens, extracted.text
            )
        return document

    async def _run_example(self, job: dict[str, Any], lane: Lane) -> None:
        file_id, token = job["id"], job["run_token"]
        document = await self._read(job)
        if document is None:
            return
        if not document.text.strip():
            await self.store.record_failure(
                file_id, token, f"{document.no_text_reason} Nothing to learn from."
            )
            return
        if not self.embed_model:
            await self.store.record_failure(
                file_id, token, "DOCSORT_EMBED_MODEL is empty, so examples teach nothing"
            )
            return
        vector, _ = await self._embedding(file_id, document.text, lane)
        await self.store.record_example(file_id, token, self.embed_model, vector)

    async def _run(self, job: dict[str, Any], lane: Lane) -> None:
        if job["example_category_id"] is not None:
            await self._run_example(job, lane)
            return
        file_id, token = job["id"], job["run_token"]
        classification = await self.store.get_classification(job["classification_id"])
        chains = any(c["linked_extraction_id"] for c in classification["categories"])
        document = await self._read(job, chains)
        if document is None:
            return
        if not document.text.strip():
            reasoning = document.no_text_reason
            await self.store.record_verdict(file_id, token, None, 1.0, reasoning, "")
            return
        try:
            vector, new = await self._embedding(file_id, document.text, lane)
            if new:
                await self.store.record_embedding(file_id, self.embed_model, vector)
            with step("learn"):
                learned = await self._learned(job, classification, vector, lane)
            verdict = await lane.classifier.classify(classification, document.text, learned)
        except InvalidAnswer as exc:
            await self.store.record_failure(file_id, token, str(exc))
            return
        await self.store.record_verdict(
            file_id,
            token,
            verdict.category_id,
            verdict.confidence,
            verdict.reasoning,
            self.embed_model if verdict.source == "examples" else lane.model.model,
            verdict.confidence_sources,
            verdict.evidence,
            verdict.source,
        )

    # Extraction jobs: direct uploads, and files chained by their verdict ----------------------

    async def _extraction_text(self, job: dict[str, Any]) -> str | None:
        """The text the extraction reads: the one its file's classification run kept, else
        (a direct upload, or a file classified before texts were kept) the file read now;
        None when that read failed (and is stored so)."""
        file_id, token = job["file_id"], job["run_token"]
        text = await self.store.extraction_text(file_id, self.extract_tokens)
        if text is not None:
            return text
        path = self.uploads_dir / job["folder"] / file_id
        try:
            with step("read"):
                document = await asyncio.to_thread(read_document, path, self.extract_tokens)
        except UnreadableFile as exc:
            await self.store.record_extraction_failure(file_id, token, str(exc))
            return None
        return document.text

    async def _run_extraction(self, job: dict[str, Any], lane: Lane) -> None:
        assert lane.extractor is not None
        file_id, token = job["file_id"], job["run_token"]
        text = await self._extraction_text(job)
        if text is None:
            return
        extraction = await self.store.get_extraction(job["extraction_id"])
        if extraction is None:
            await self.store.record_extraction_failure(
                file_id, token, f"the extraction {job['extraction_id']!r} does not exist"
            )
            return
        try:
            extracted = await lane.extractor.extract(extraction, text)
        except InvalidExtraction as exc:
            await self.store.record_extraction_failure(file_id, token, str(exc))
            return
        await self.store.record_extraction(
            file_id,
            token,
            extracted.data,
            extracted.missing_required,
            lane.model.model if text.strip() else "",
        )
