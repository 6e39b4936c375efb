"""Run a labelled folder through the same pipeline users get: the API creates the
classification and takes the uploads, the worker classifies in burst mode, and the API's own
file views are the results. Nothing here classifies on its own, so the numbers are the app's.

The folder holds docs/, labels.csv (file,expected_category; empty means none) and
classification.json (the body of POST /v1/classifications).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import random
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from litestar.testing import AsyncTestClient

from ..api import create_app
from ..model import ModelClient
from ..settings import Settings
from ..store import AsyncStore
from .metrics import FAILED

PROCESSED = "processed"

NONE = "none"


@dataclass(frozen=True)
class LabelledFolder:
    path: Path
    classification: dict[str, Any]
    expected: dict[str, str]  # file name -> category name or "none", in labels.csv order
    total: int  # labelled files before --limit

    @property
    def categories(self) -> list[str]:
        return [c["name"] for c in self.classification["categories"]]


def load_folder(path: Path, limit: int | None = None) -> LabelledFolder:
    """Read and check the folder before any model starts, so a typo fails in a second."""
    for part in ("docs", "labels.csv", "classification.json"):
        if not (path / part).exists():
            raise SystemExit(f"{path} is not a labelled folder: it has no {part}")
    classification = json.loads((path / "classification.json").read_text())
    names = {c["name"] for c in classification["categories"]}
    with (path / "labels.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    expected = {}
    for row in rows[:limit]:
        category = (row["expected_category"] or "").strip() or NONE
        if category != NONE and category not in names:
            raise SystemExit(f"labels.csv: {row['file']} expects {category!r}, not a category")
        if not (path / "docs" / row["file"]).is_file():
            raise SystemExit(f"labels.csv names {row['file']}, which is not in {path / 'docs'}")
        expected[row["file"]] = category
    if not expected:
        raise SystemExit(f"{path / 'labels.csv'} lists no files")
    return LabelledFolder(path, classification, expected, len(rows))


def fingerprint(*paths: Path) -> str:
    """A short hash of files' names and contents: two reports with the same fingerprint ran
    the same prompts (or the same classification)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


class Progress:
    """Files done, elapsed and ETA on one rewritten stderr line (a line per file when stderr
    is not a terminal, so a log keeps every step)."""

    def __init__(self, total: int, stream: TextIO | None = sys.stderr):
        self.total = total
        self.stream = stream
        self.started = time.monotonic()
        self.last = -1

    def update(self, done: int) -> None:
        if self.stream is None or done == self.last:
            return
        self.last = done
        elapsed = time.monotonic() - self.started
        eta = f"{elapsed / done * (self.total - done):.0f} s" if done else "?"
        line = f"{done}/{self.total} files, {elapsed:.0f} s elapsed, ETA {eta}"
        tty = self.stream.isatty()
        end = "\n" if not tty or done == self.total else ""
        print(f"\r{line}\033[K" if tty else line, end=end, file=self.stream, flush=True)


def _seconds(file: dict[str, Any]) -> float | None:
    if not (file["started_at"] and file["finished_at"]):
        return None
    started = datetime.fromisoformat(file["started_at"])
    return (datetime.fromisoformat(file["finished_at"]) - started).total_seconds()


def to_row(file: dict[str, Any], expected: str) -> dict[str, Any]:
    """One file's result from its API view. A failed file got "failed": always wrong."""
    if file["status"] == FAILED:
        got = FAILED
    else:
        got = file["classified_category_name"] or NONE
    verdict = file["model_verdict"] or {}
    return {
        "file": file["file_name"],
        "source": file.get("verdict_source"),
        "expected": expected,
        "got": got,
        "status": file["status"],
        "error": file["error"],
        "confidence": file["confidence"],
        "confidence_sources": verdict.get("confidence_sources") or {},
        "evidence": verdict.get("evidence"),
        "reasoning": file["classification_reasoning"],
        "seconds": _seconds(file),
    }


def _checked(response: Any) -> dict[str, Any]:
    """The API refuses what users would be refused (say a file over the size limit): say so."""
    if response.status_code >= 400:
        raise SystemExit(f"the API refused the eval folder: {response.text}")
    return response.json()


@dataclass(frozen=True)
class Plan:
    """What a run does besides classifying: `examples` files of each category given as
    examples first, or (`learn`) every verdict checked as a person would, in the order of
    `seed`."""

    examples: int = 0
    learn: bool = False
    seed: int = 0

    def split(self, folder: LabelledFolder) -> tuple[dict[str, list[str]], list[str]]:
        """The example files by category, and the files to classify in order."""
        names = list(folder.expected)
        rng = random.Random(self.seed)
        examples: dict[str, list[str]] = {}
        if self.examples:
            shuffled = rng.sample(names, len(names))
            for category in folder.categories:
                of_it = [n for n in shuffled if folder.expected[n] == category]
                examples[category] = of_it[: self.examples]
        given = {n for chosen in examples.values() for n in chosen}
        rest = [n for n in names if n not in given]
        if self.learn:
            rest = rng.sample(rest, len(rest))
        return examples, rest


async def _give_examples(
    client: AsyncTestClient, app: Any, folder: LabelledFolder, cls_id: str,
    examples: dict[str, list[str]],
) -> None:  # fmt: skip
    """Upload each category's examples through the API and let the worker embed them."""
    body = _checked(await client.get(f"/v1/classifications/{cls_id}"))
    ids = {c["name"]: c["id"] for c in body["classification"]["categories"]}
    for category, names in examples.items():
        for i in range(0, len(names), 30):
            parts = [
                ("files", (n, (folder.path / "docs" / n).read_bytes())) for n in names[i : i + 30]
            ]
            url = f"/v1/classifications/{cls_id}/categories/{ids[category]}/examples"
            _checked(await client.post(url, files=parts))
    while await app.state.worker.process_one():
        pass


async def _upload(
    client: AsyncTestClient, folder: LabelledFolder, size: int, names: list[str], cls_id: str
) -> list[str]:
    batches = []
    for i in range(0, len(names), size):
        parts = [
            ("files", (n, (folder.path / "docs" / n).read_bytes())) for n in names[i : i + size]
        ]
        body = _checked(await client.post(f"/v1/classifications/{cls_id}/batches", files=parts))
        batches.append(body["batch"]["id"])
    return batches


async def _views(client: AsyncTestClient, cls_id: str, batches: list[str]) -> list[dict]:
    views = []
    for batch_id in batches:
        response = await client.get(f"/v1/classifications/{cls_id}/batches/{batch_id}")
        views.append(response.json())
    return views


async def _check(
    client: AsyncTestClient, cls_id: str, file: dict[str, Any], expected: str, ids: dict
) -> None:
    """What a person reviewing the verdict does: confirm it if right, else correct it."""
    url = f"/v1/classifications/{cls_id}/files/{file['id']}"
    got = file["classified_category_name"] or NONE
    if file["status"] != FAILED and got == expected:
        _checked(await client.post(f"{url}/confirm"))
    else:
        _checked(await client.patch(url, json={"classified_category_id": ids.get(expected)}))


async def run_folder(
    folder: LabelledFolder,
    settings: Settings,
    model: ModelClient,
    progress: TextIO | None = sys.stderr,
    plan: Plan | None = None,
) -> list[dict[str, Any]]:
    """Classify the labelled files (less any given as examples) with a fresh store under
    settings.data_dir; one row each, in labels.csv order, or in stream order when learning
    (each row then says its `position` and whether it needed a correction)."""
    plan = plan or Plan()
    examples, names = plan.split(folder)
    store = AsyncStore(settings.db_path)
    app = create_app(settings, store, model, run_worker=False)
    rows: dict[str, dict[str, Any]] = {}
    try:
        # In process, as 127.0.0.1: the API answers only to the hosts it is served under.
        async with AsyncTestClient(app=app, base_url="http://127.0.0.1", timeout=60) as client:
            body = _checked(await client.post("/v1/classifications", json=folder.classification))
            cls_id = body["classification"]["id"]
            ids = {c["name"]: c["id"] for c in body["classification"]["categories"]}
            await _give_examples(client, app, folder, cls_id, examples)
            batches = await _upload(client, folder, min(settings.max_files, 30), names, cls_id)
            meter = Progress(len(names), progress)
            meter.update(0)
            while len(rows) < len(names):
                for view in await _views(client, cls_id, batches):
                    for file in view["files"]:
                        if file["status"] not in (PROCESSED, FAILED) or file["id"] in rows:
                            continue
                        expected = folder.expected[file["file_name"]]
                        rows[file["id"]] = to_row(file, expected)
                        if plan.learn:
                            await _check(client, cls_id, file, expected, ids)
                meter.update(len(rows))
                if len(rows) < len(names) and not await app.state.worker.process_one():
                    await asyncio.sleep(0.5)  # a file waits out a model-server backoff
    finally:
        store.close()
    by_name = {row["file"]: row for row in rows.values()}
    ordered = [by_name[name] for name in names]
    if plan.learn:
        for position, row in enumerate(ordered):
            row["position"] = position
            row["corrected"] = row["got"] != row["expected"]
    return ordered
