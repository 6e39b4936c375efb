"""Where a file's seconds go, and how many of them are docsort's own (`make bench`).

One run over the first LIMIT files of a labelled folder, on a bundled model server it starts,
in parts (--parts; each prints its figures, and all go to reports/bench-*.json):

- steps: the files through the real app in process, as `make eval` runs them; the worker's
  traces (app/trace.py) give each step's seconds and the server's own timings of each model
  call; medians and p90;
- model: the very requests docsort sent (chats and embeddings), each file's sent again right
  after docsort's job, straight to the server with the ollama client and nothing around
  them, from the cache docsort found; `overhead ratio: R` is docsort's seconds from claim to
  verdict over the model's for the same files, and beside it the same over the chats alone;
  the floor, paired the same way, is each file's chat again as a one-token answer;
- prefix: whether a classification's shared prompt prefix (its categories) is read once, not
  per file: alone, with chained extractions in between, and two classifications in turn;
  and how often a chained file is read (its verdict's job and its extraction's; 1 is once);
- throughput: one batch's files per minute at concurrency 1 and 2;
- hosts: the same batch's wall time on one bundled server and on two (OLLAMA_HOST naming
  both, one job each), the cores split between the two; on one machine a second host only
  shows that jobs spread over both and nothing is lost, not the speed a second machine adds;
- upload: a 30 x 25 MB upload's memory growth of the API process and the latency of status
  polls, while a batch runs (scripts/bench_upload.py's server, with a worker).

Only figures taken side by side in one run compare: hosts differ two- to threefold, and a
busy machine skews everything (the load average is in the report).

    .venv/bin/python scripts/bench.py [DIR] [--limit 20] [--parts steps,model,...] [--model M]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import bench_upload
import httpx
import llama_cpp
from litestar.testing import AsyncTestClient
from llama_cpp._internals import LlamaModel
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import trace  # noqa: E402
from app.api import create_app  # noqa: E402
from app.evaluation.metrics import percentile  # noqa: E402
from app.evaluation.report import num, table  # noqa: E402
from app.evaluation.runner import (  # noqa: E402
    LabelledFolder,
    Progress,
    _checked,
    _upload,
    fingerprint,
    load_folder,
)
from app.jobs import EXTRACTIONS, FILES  # noqa: E402
from app.model import ModelClient, Timings, ollama  # noqa: E402
from app.modelfetch import ensure_model  # noqa: E402
from app.settings import MB, Settings  # noqa: E402
from app.store import AsyncStore  # noqa: E402
from app.worker import Worker  # noqa: E402
from tests.modelserver_fixture import running_model_server  # noqa: E402

PARTS = ("steps", "model", "prefix", "throughput", "hosts", "upload")
STEPS = ("read", "render", "embed", "learn", "model", "store")
TOKENS = ("prompt_tokens", "prompt_read", "prompt_reused", "generated")
# Per file: the seconds of the whole and of each step, then the model calls' own figures.
COLUMNS = (
    "seconds", *STEPS, "other", *TOKENS, "reading_seconds", "generating_seconds",
)  # fmt: skip
EXTRACTION = {
    "name": "Bench fields",
    "fields": [
        {"name": "title", "type": "string", "description": "The document's title or subject"},
        {"name": "date", "type": "date", "description": "The date the document bears"},
    ],
}
SCENARIOS = {
    "alone": "one classification",
    "chained": "each verdict chains an extraction",
    "two": "two classifications in turn",
}


# Figures: pure, tested in tests/test_bench.py ----------------------------------------------


def spread(values: Sequence[float]) -> dict[str, float | None]:
    """What a file usually takes, and what the slowest tenth takes."""
    return {"median": percentile(values, 0.5), "p90": percentile(values, 0.9)}


def overhead_ratio(docsort: Sequence[float], model: Sequence[float]) -> float:
    """docsort's seconds over the model's for the same files, summed: a long file weighs
    what it costs."""
    return sum(docsort) / sum(model)


def common_prefix(sequences: Sequence[Sequence[int]]) -> int:
    """How many leading tokens all the sequences share."""
    shortest = min(map(len, sequences))
    for i in range(shortest):
        if any(s[i] != sequences[0][i] for s in sequences):
            return i
    return shortest


def prefix_reads(prompts: Sequence[Sequence[int]], evaluated: Sequence[int]) -> dict[str, Any]:
    """How much of a family's shared prefix (the prompts' common tokens; at least two
    prompts) the server read again for each prompt: what it evaluated beyond the prompt's
    own suffix. `reads` 1.0 is the prefix read once for the whole family."""
    prefix = common_prefix(prompts)
    reread = [
        max(0, min(prefix, done - (len(p) - prefix)))
        for p, done in zip(prompts, evaluated, strict=True)
    ]
    return {
        "calls": len(prompts),
        "prefix_tokens": prefix,
        "reread": reread,
        "reads": sum(reread) / prefix if prefix else None,
    }


def chained_reads(traces: Sequence[trace.Trace]) -> float | None:
    """How many times a file with a chained extraction was read, over all its jobs' runs
    (its verdict's and its extraction's), on average; 1.0 is each read once."""
    reads = {t.job_id: 0 for t in traces if t.kind == EXTRACTIONS.table}
    for t in traces:
        if t.job_id in reads:
            reads[t.job_id] += t.runs.get("read", 0)
    return sum(reads.values()) / len(reads) if reads else None


def file_row(name: str, job: trace.Trace, prompt_tokens: int) -> dict[str, Any]:
    """One file's seconds by step, and its model calls' tokens and seconds (retries summed);
    prompt_tokens is the whole of its prompts, cached or not."""
    read = sum(c.prompt_eval_count for c in job.calls)
    return {
        "file": name,
        "seconds": job.total,
        **{step: job.seconds.get(step, 0.0) for step in STEPS},
        "other": job.other,
        "model_calls": len(job.calls),
        "prompt_tokens": prompt_tokens,
        "prompt_read": read,
        "prompt_reused": prompt_tokens - read,
        "generated": sum(c.eval_count for c in job.calls),
        "reading_seconds": sum(c.prompt_seconds for c in job.calls),
        "generating_seconds": sum(c.eval_seconds for c in job.calls),
    }


# What docsort sends, and the server's tokens ---------------------------------------------


@dataclass(frozen=True)
class Call:
    """One chat docsort sent: its very arguments, the job it was for, the server's timings."""

    request: dict[str, Any]
    job_id: str
    kind: str  # the job's queue: "files" (a verdict) or "extraction_jobs"
    timings: Timings
    route: str = "chat"  # or "embed"


class Recorder:
    """Stands in for a ModelClient's ollama client: passes every call on and keeps each chat
    (`calls`), so the same requests can be sent again and their prompts counted, and every
    request in order, embeddings too (`sent`)."""

    def __init__(self, client: Any):
        self.client = client
        self.calls: list[Call] = []
        self.sent: list[Call] = []

    async def chat(self, **request: Any) -> Any:
        response = await self.client.chat(**request)
        job = trace.current()
        assert job is not None, "docsort chats only inside a job"
        self.calls.append(Call(request, job.job_id, job.kind, Timings.of(response)))
        self.sent.append(self.calls[-1])
        return response

    async def embed(self, **request: Any) -> Any:
        response = await self.client.embed(**request)
        if job := trace.current():  # a category's description is embedded outside any job
            self.sent.append(Call(request, job.job_id, job.kind, Timings(0, 0, 0, 0), "embed"))
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def model_client(settings: Settings) -> ModelClient:
    return ModelClient(
        settings.model_host, settings.model, settings.model_timeout, settings.embed_model
    )


def recorded(settings: Settings) -> tuple[ModelClient, Recorder]:
    model = model_client(settings)
    model.client = recorder = Recorder(model.client)
    return model, recorder


class PromptTokens:
    """A chat's prompt tokens as the bundled server makes them (LoadedModel.chat_prompt in
    app/modelserver/engine.py), from the GGUF's vocabulary alone: no weights, no context."""

    def __init__(self, path: Path):
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        self.vocab = LlamaModel(path_model=str(path), params=params, verbose=False)
        self.formatter = Jinja2ChatFormatter(
            template=self.vocab.metadata()["tokenizer.chat_template"],
            eos_token=self._text(self.vocab.token_eos()),
            bos_token=self._text(self.vocab.token_bos()),
        )

    def _text(self, token: int) -> str:
        return self.vocab.detokenize([token], special=True).decode("utf-8", errors="replace")

    def of(self, request: dict[str, Any]) -> list[int]:
        prompt = self.formatter(messages=request["messages"]).prompt
        return self.vocab.tokenize(prompt.encode(), add_bos=False, special=True)


async def check_tokens(url: str, tokens: PromptTokens, request: dict[str, Any]) -> None:
    """The server's count of a prompt, without evaluating it (num_predict 0 returns before
    the cache is touched), must be ours: else every token figure here is wrong."""
    options = request["options"] | {"num_predict": 0}
    response = await ollama.AsyncClient(host=url).chat(**request | {"options": options})
    ours = len(tokens.of(request))
    if response.prompt_eval_count != ours:
        raise SystemExit(
            f"prompt tokens: {ours} counted here, {response.prompt_eval_count} by the server"
        )


async def settle(settings: Settings) -> None:
    """The same small chat before every run, so each starts from the same cache, with the
    models loaded and warm."""
    client = ollama.AsyncClient(host=settings.model_host)
    message = {"role": "user", "content": "Say ok."}
    await client.chat(model=settings.model, messages=[message], options={"num_predict": 1})
    if settings.embed_model:
        await client.embed(model=settings.embed_model, input="warm up")


# The app in process ------------------------------------------------------------------------


@asynccontextmanager
async def docsort(
    settings: Settings, model: ModelClient | list[ModelClient]
) -> AsyncIterator[tuple[AsyncTestClient, Worker]]:
    """The real app in process over a fresh data folder; its worker is the caller's to run."""
    with tempfile.TemporaryDirectory(prefix="docsort-bench-") as tmp:
        settings = dataclasses.replace(settings, data_dir=Path(tmp))
        store = AsyncStore(settings.db_path)
        app = create_app(settings, store, model, run_worker=False)
        try:
            async with AsyncTestClient(app=app, base_url="http://127.0.0.1", timeout=60) as client:
                yield client, app.state.worker
        finally:
            store.close()


async def create(client: AsyncTestClient, path: str, body: dict[str, Any]) -> str:
    created = _checked(await client.post(path, json=body))
    return next(iter(created.values()))["id"]


async def batch_views(
    client: AsyncTestClient, batches: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    return [
        _checked(await client.get(f"/v1/classifications/{cls_id}/batches/{batch_id}"))
        for cls_id, batch_id in batches
    ]


async def run_until_done(
    client: AsyncTestClient,
    worker: Worker,
    batches: list[tuple[str, str]],
    meter: Progress,
    after_each: Callable[[], Awaitable[None]] | None = None,
) -> list[dict[str, Any]]:
    """Burst mode until every batch is processed and no chained work is left; their views.
    `after_each` runs after every job, before the next is claimed."""
    while True:
        views = await batch_views(client, batches)
        meter.update(sum(v["batch"]["processed_count"] + v["batch"]["failed_count"] for v in views))
        if await worker.process_one():
            if after_each is not None:
                await after_each()
            continue
        if all(v["batch"]["status"] == "processed" for v in views):
            return views
        await asyncio.sleep(0.5)  # a file waits out a retry's backoff


# The parts ---------------------------------------------------------------------------------


async def steps(
    settings: Settings,
    folder: LabelledFolder,
    names: list[str],
    tokens: PromptTokens,
    paired: bool = False,
) -> tuple[dict[str, Any], list[Call], Pairs | None]:
    """Each file's steps through docsort, the chats it sent, and (`paired`) the same
    requests sent again straight to the server right after each file."""
    model, recorder = recorded(settings)
    await settle(settings)
    pairs = Pairs(settings, recorder) if paired else None
    async with docsort(settings, model) as (client, worker):
        cls_id = await create(client, "/v1/classifications", folder.classification)
        batches = [(cls_id, b) for b in await _upload(client, folder, 30, names, cls_id)]
        views = await run_until_done(client, worker, batches, Progress(len(names)), pairs)
    if recorder.calls:
        await check_tokens(settings.model_host, tokens, recorder.calls[0].request)
    files = {f["id"]: f for view in views for f in view["files"]}
    runs = {t.job_id: t for t in worker.traces.done if t.kind == FILES.table}  # the last run
    counted: dict[str, int] = {}
    for call in recorder.calls:
        counted[call.job_id] = counted.get(call.job_id, 0) + len(tokens.of(call.request))
    rows = [
        file_row(files[job_id]["file_name"], job, counted.get(job_id, 0))
        | {"job_id": job_id, "status": files[job_id]["status"]}
        for job_id, job in runs.items()
    ]
    summary = {column: spread([row[column] for row in rows]) for column in COLUMNS}
    return {"files": rows, "summary": summary}, recorder.calls, pairs


class Pairs:
    """The model alone, paired with docsort file by file: right after docsort's job, its
    requests (chats and embeddings) are sent again straight to the server with nothing
    around them, from the cache docsort found (the previous file's prompt, put back by
    asking it again for one token), and then the floor: the file's first chat again as a
    one-token answer, from that cache too. All are timed seconds apart, since this host's
    speed drifts by a quarter from one minute to the next. An embedding is a model's work,
    not docsort's, so the model's time counts both kinds."""

    def __init__(self, settings: Settings, recorder: Recorder) -> None:
        self.client = ollama.AsyncClient(host=settings.model_host, timeout=settings.model_timeout)
        self.recorder = recorder
        self.sent = 0  # requests of the recorder's already paired
        self.previous: Call | None = None  # the last chat paired: what docsort's cache held
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.chat_seconds: defaultdict[str, float] = defaultdict(float)
        self.server_seconds: defaultdict[str, float] = defaultdict(float)  # reading, generating
        self.floor: dict[str, float] = {}  # each file's first chat as a one-token answer
        self.same_reads = 0
        self.unlike: set[str] = set()  # files whose chats read other prompt tokens than docsort's

    async def __call__(self) -> None:
        new = self.recorder.sent[self.sent :]
        self.sent = len(self.recorder.sent)
        chats = [call for call in new if call.route == "chat"]
        if not chats:
            return
        await self._put_back()
        for call in new:
            started = time.perf_counter()
            if call.route == "embed":
                await self.client.embed(**call.request)
            else:
                response = await self.client.chat(**call.request)
            took = time.perf_counter() - started
            self.seconds[call.job_id] += took
            if call.route == "embed":
                continue
            self.chat_seconds[call.job_id] += took
            timings = Timings.of(response)
            self.server_seconds[call.job_id] += timings.prompt_seconds + timings.eval_seconds
            if response.prompt_eval_count == call.timings.prompt_eval_count:
                self.same_reads += 1
            else:
                self.unlike.add(call.job_id)
        await self._put_back()
        started = time.perf_counter()
        await self.client.chat(**one_token_request(chats[0]))
        self.floor[chats[0].job_id] = time.perf_counter() - started
        self.previous = chats[-1]

    async def _put_back(self) -> None:
        """The cache docsort found for this file: the previous file's prompt."""
        if self.previous is not None:
            await self.client.chat(**one_token_request(self.previous))


def pure_model(pairs: Pairs, calls: list[Call], rows: list[dict]) -> dict[str, Any]:
    """docsort's seconds against the paired model's and the paired floor."""
    floor = pairs.floor
    # A file whose chats read other prompt tokens than for docsort (the first, read cold
    # by docsort) is left out of the ratio.
    asked = [row for row in rows if row["job_id"] in pairs.chat_seconds
             and row["job_id"] not in pairs.unlike]  # fmt: skip
    docsort_seconds = [row["seconds"] for row in asked]
    model_seconds = [pairs.seconds[row["job_id"]] for row in asked]
    chats_seconds = [pairs.chat_seconds[row["job_id"]] for row in asked]
    floor_seconds = [floor[row["job_id"]] for row in asked if row["job_id"] in floor]
    sent = pairs.recorder.sent
    server = {  # the server's own seconds reading and generating, for the same chats
        "docsort": spread([row["reading_seconds"] + row["generating_seconds"] for row in asked]),
        "model": spread([pairs.server_seconds[row["job_id"]] for row in asked]),
    }
    return {
        "files": len(asked),
        "calls": len(calls),
        "embeddings": sum(call.route == "embed" for call in sent),
        "same_prompt_tokens_read": pairs.same_reads,  # of the calls: the cache was docsort's
        "docsort": spread(docsort_seconds),
        "model": spread(model_seconds),
        "overhead_ratio": overhead_ratio(docsort_seconds, model_seconds) if asked else None,
        "overhead_ratio_chats": overhead_ratio(docsort_seconds, chats_seconds) if asked else None,
        "server": server,
        "floor": spread(floor_seconds),
        "over_floor": (  # the measure: the median file against the median floor
            percentile(docsort_seconds, 0.5) / percentile(floor_seconds, 0.5)
            if floor_seconds
            else None
        ),
    }


def one_token_request(call: Call) -> dict[str, Any]:
    """A chat's request with no schema and a one-token answer: the model reads the prompt
    and writes nothing more."""
    request = call.request | {"format": None, "logprobs": False, "top_logprobs": None}
    request["options"] = dict(request.get("options") or {}, num_predict=1)
    return request


def families(calls: list[Call], tokens: PromptTokens) -> list[dict[str, Any]]:
    """The calls by system prompt (one per classification or extraction), with how often
    each one's shared prefix was read."""
    groups: dict[str, list[Call]] = {}
    for call in calls:
        groups.setdefault(call.request["messages"][0]["content"], []).append(call)
    out = []
    numbered: dict[str, int] = {}
    for group in groups.values():
        kind = "classify" if group[0].kind == FILES.table else "extract"
        numbered[kind] = numbered.get(kind, 0) + 1
        figures: dict[str, Any] = {"calls": len(group), "prefix_tokens": None, "reads": None}
        if len(group) > 1:  # one prompt has no prefix to share
            prompts = [tokens.of(c.request) for c in group]
            figures = prefix_reads(prompts, [c.timings.prompt_eval_count for c in group])
        out.append({"family": f"{kind} {numbered[kind]}"} | figures)
    return out


async def scenario(
    settings: Settings, folder: LabelledFolder, names: list[str], kind: str
) -> tuple[list[Call], list[trace.Trace]]:
    """The files classified one a batch, in turn when there are two classifications (the
    worker claims them in upload order), extractions chained to every category's verdict
    in "chained"; the chats sent and the worker's traces."""
    model, recorder = recorded(settings)
    await settle(settings)
    async with docsort(settings, model) as (client, worker):
        body = folder.classification
        if kind == "chained":
            extraction = await create(client, "/v1/extractions", EXTRACTION)
            linked = [c | {"linked_extraction_id": extraction} for c in body["categories"]]
            body = body | {"categories": linked}
        bodies = [body]
        if kind == "two":  # the same categories the other way round: a prefix of its own
            bodies.append(body | {"name": f"{body['name']} (reversed)",
                                  "categories": body["categories"][::-1]})  # fmt: skip
        ids = [await create(client, "/v1/classifications", b) for b in bodies]
        batches = []
        for name in names:
            for cls_id in ids:
                batches += [(cls_id, b) for b in await _upload(client, folder, 1, [name], cls_id)]
        await run_until_done(client, worker, batches, Progress(len(batches)))
    return recorder.calls, list(worker.traces.done)


async def prefix(
    settings: Settings, folder: LabelledFolder, names: list[str], tokens: PromptTokens
) -> tuple[list[dict[str, Any]], float | None]:
    """Each scenario's prompt families, and the chained scenario's reads a file."""
    out = []
    reads = None
    for kind in SCENARIOS:
        calls, traces = await scenario(settings, folder, names, kind)
        out += [{"scenario": kind} | family for family in families(calls, tokens)]
        if kind == "chained":
            reads = chained_reads(traces)
    return out, reads


async def throughput(
    settings: Settings,
    folder: LabelledFolder,
    names: list[str],
    concurrency: int,
    models: list[ModelClient] | None = None,
) -> dict[str, Any]:
    """One batch through the running worker, from the upload to its last verdict, on
    `models` (default: the one server of `settings`); which host did each file."""
    settings = dataclasses.replace(settings, concurrency=concurrency)
    models = models or [model_client(settings)]
    recorders = {}
    for model in models:
        await settle(dataclasses.replace(settings, ollama_host=model.host))
        model.client = recorders[model.host] = Recorder(model.client)
    async with docsort(settings, models) as (client, worker):
        cls_id = await create(client, "/v1/classifications", folder.classification)
        await worker.start()
        started = time.perf_counter()
        batches = [(cls_id, b) for b in await _upload(client, folder, 30, names, cls_id)]
        meter = Progress(len(names))
        while True:
            [view] = await batch_views(client, batches)
            meter.update(view["batch"]["processed_count"] + view["batch"]["failed_count"])
            if view["batch"]["status"] == "processed":
                break
            await asyncio.sleep(0.2)
        seconds = time.perf_counter() - started
        await worker.stop()
    return {
        "concurrency": concurrency,
        "hosts": len(models),
        "files": len(names),
        "failed": view["batch"]["failed_count"],
        "seconds": seconds,
        "files_per_minute": len(names) / seconds * 60,
        "files_by_host": files_by_host(recorders),
    }


def files_by_host(recorders: dict[str, Recorder]) -> dict[str, int]:
    """How many files each host classified (a file retried elsewhere counts for both)."""
    return {
        host: len({c.job_id for c in recorder.calls if c.kind == FILES.table})
        for host, recorder in recorders.items()
    }


async def hosts(
    settings: Settings, folder: LabelledFolder, names: list[str], pair: list[str], threads: int
) -> list[dict[str, Any]]:
    """The batch on the bench's server alone (all its threads), then on the two servers of
    `pair` (`threads` each, the same cores split), one job a host."""
    two = [model_client(dataclasses.replace(settings, ollama_host=url)) for url in pair]
    return [
        await throughput(settings, folder, names, 1) | {"threads_per_host": settings.model_threads},
        await throughput(settings, folder, names, 1, two) | {"threads_per_host": threads},
    ]


class Poller(threading.Thread):
    """Asks for a batch's status every `every` seconds until it is processed, timing each
    answer: (when it was asked, seconds)."""

    def __init__(self, url: str, every: float = 0.1):
        super().__init__(daemon=True)
        self.url = url
        self.every = every
        self.samples: list[tuple[float, float]] = []

    def run(self) -> None:
        with httpx.Client(timeout=60) as http:
            while True:
                asked = time.perf_counter()
                status = http.get(self.url).json()["batch"]["status"]
                self.samples.append((asked, time.perf_counter() - asked))
                if status == "processed":
                    return
                time.sleep(self.every)


def latency(seconds: Sequence[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    return {"polls": len(ms), "p50_ms": percentile(ms, 0.5), "p99_ms": percentile(ms, 0.99)}


def upload(
    settings: Settings, folder: LabelledFolder, names: list[str], files: int, size: int
) -> dict[str, Any]:
    """While the API's worker classifies `names`, poll their batch and upload `files` x
    `size` bytes: the upload's figures (bench_upload.upload) and the polls' latency, over
    the whole batch and during the upload."""
    with (
        tempfile.TemporaryDirectory(prefix="docsort-bench-") as tmp,
        bench_upload.serving(Path(tmp), (settings.model_host, settings.model)) as (url, server),
    ):
        created = httpx.post(f"{url}/v1/classifications", json=folder.classification).json()
        base = f"{url}/v1/classifications/{created['classification']['id']}/batches"
        parts = [("files", (n, (folder.path / "docs" / n).read_bytes())) for n in names]
        batch = httpx.post(base, files=parts, timeout=60).json()["batch"]["id"]
        poller = Poller(f"{base}/{batch}")
        poller.start()
        began = time.perf_counter()
        figures = bench_upload.upload(url, server.pid, files, size)
        ended = time.perf_counter()
        poller.join()
    during = [s for asked, s in poller.samples if began <= asked <= ended]
    return figures | {
        "batch_files": len(names),
        "rss_growth_mb": figures["rss_peak_mb"] - figures["rss_before_mb"],
        "poll": latency([s for _, s in poller.samples]),
        "poll_during_upload": latency(during),
    }


# Printing ----------------------------------------------------------------------------------


def show_steps(figures: dict[str, Any]) -> list[str]:
    body = []
    for column, spread_ in figures["summary"].items():
        digits = 0 if column in TOKENS else 3
        body.append([column, num(spread_["median"], digits), num(spread_["p90"], digits)])
    files = len(figures["files"])
    return [f"Per file ({files} files; seconds, or tokens):", *table(["", "median", "p90"], body)]


def show_model(figures: dict[str, Any]) -> list[str]:
    d, m, f = figures["docsort"], figures["model"], figures["floor"]
    sd, sm = figures["server"]["docsort"], figures["server"]["model"]
    return [
        f"Pure model time ({figures['files']} files; {figures['calls']} chats and"
        f" {figures['embeddings']} embeddings sent again, each file's right after docsort's;"
        f" {figures['same_prompt_tokens_read']} chats read as many prompt tokens as for docsort):",
        f"  docsort, claim to verdict: median {num(d['median'])} s, p90 {num(d['p90'])} s",
        f"  the model alone:           median {num(m['median'])} s, p90 {num(m['p90'])} s",
        f"  the server's own reading and generating, median: {num(sd['median'])} s for"
        f" docsort's chats, {num(sm['median'])} s for the same sent alone",
        f"  floor, one-token answers:  median {num(f['median'])} s, p90 {num(f['p90'])} s"
        f" (docsort's median {num(figures['over_floor'])}x the floor's)",
        f"  over the chats alone, the embeddings counted as docsort's:"
        f" {num(figures['overhead_ratio_chats'])}",
        f"overhead ratio: {num(figures['overhead_ratio'])}",
    ]


def show_prefix(rows: list[dict[str, Any]]) -> list[str]:
    body = [
        [row["scenario"], row["family"], str(row["calls"]), str(row["prefix_tokens"] or "—"),
         num(row["reads"], 2), str(sum(row.get("reread", [])[1:]))]
        for row in rows
    ]  # fmt: skip
    header = ["scenario", "prompts", "calls", "prefix tokens", "prefix reads", "re-read after 1st"]
    return [
        "Shared prefix (1.00 reads: read once for all its calls):",
        *table(header, body, "llrrrr"),
        *(f"  {kind}: {what}" for kind, what in SCENARIOS.items()),
    ]


def show_reads(reads: float | None) -> list[str]:
    return [f"chained file reads per file: {num(reads, 2)} (target 1)"]


def show_throughput(rows: list[dict[str, Any]]) -> list[str]:
    body = [
        [str(r["concurrency"]), str(r["files"]), str(r["failed"]), num(r["seconds"], 1),
         num(r["files_per_minute"], 1)]
        for r in rows
    ]  # fmt: skip
    return ["Throughput:", *table(["concurrency", "files", "failed", "s", "files/min"], body)]


def show_hosts(rows: list[dict[str, Any]]) -> list[str]:
    body = [
        [str(r["hosts"]), str(r["threads_per_host"]), str(r["files"]), str(r["failed"]),
         num(r["seconds"], 1), num(r["files_per_minute"], 1),
         " ".join(str(n) for n in r["files_by_host"].values())]
        for r in rows
    ]  # fmt: skip
    header = ["hosts", "threads each", "files", "failed", "s", "files/min", "files by host"]
    return [
        "One model host and two (on this one machine: the same cores, split):",
        *table(header, body, "rrrrrrl"),
    ]


def show_upload(f: dict[str, Any]) -> list[str]:
    poll, during = f["poll"], f["poll_during_upload"]
    return [
        f"Upload of {f['files']} x {f['mb_each']:g} MB while {f['batch_files']} files classify:"
        f" {num(f['seconds'], 2)} s ({num(f['mb_per_second'], 0)} MB/s), API peak RSS"
        f" +{num(f['rss_growth_mb'], 0)} MB ({num(f['rss_before_mb'], 0)} ->"
        f" {num(f['rss_peak_mb'], 0)} MB, now {num(f['rss_after_mb'], 0)} MB)",
        f"Status polls: p50 {num(poll['p50_ms'], 1)} ms, p99 {num(poll['p99_ms'], 1)} ms"
        f" ({poll['polls']}); during the upload p50 {num(during['p50_ms'], 1)} ms,"
        f" p99 {num(during['p99_ms'], 1)} ms ({during['polls']})",
    ]


# Running -----------------------------------------------------------------------------------


def emit(lines: list[str]) -> None:
    print("\n".join(["", *lines]), flush=True)


async def run(
    args: argparse.Namespace, settings: Settings, folder: LabelledFolder, tokens: PromptTokens
) -> dict[str, Any]:
    names = list(folder.expected)[: args.limit]
    report: dict[str, Any] = {}
    if {"steps", "model"} & args.parts:
        paired = "model" in args.parts
        report["steps"], calls, pairs = await steps(settings, folder, names, tokens, paired)
        emit(show_steps(report["steps"]))
        if pairs is not None:
            report["model"] = pure_model(pairs, calls, report["steps"]["files"])
            emit(show_model(report["model"]))
    if "prefix" in args.parts:
        report["prefix"], report["chained_reads"] = await prefix(
            settings, folder, names[: args.prefix_files], tokens
        )
        emit(show_prefix(report["prefix"]) + show_reads(report["chained_reads"]))
    if "throughput" in args.parts:
        batch = list(folder.expected)[: args.batch]
        report["throughput"] = [await throughput(settings, folder, batch, c) for c in (1, 2)]
        emit(show_throughput(report["throughput"]))
    if "hosts" in args.parts:
        batch = list(folder.expected)[: args.batch]
        threads = max(1, settings.model_threads // 2)
        with (
            running_model_server(settings.model, ctx=settings.model_ctx, threads=threads) as a,
            running_model_server(settings.model, ctx=settings.model_ctx, threads=threads) as b,
        ):
            report["hosts"] = await hosts(settings, folder, batch, [a.url, b.url], threads)
        emit(show_hosts(report["hosts"]))
    if "upload" in args.parts:
        size = args.upload_mb * MB
        figures = await asyncio.to_thread(
            upload, settings, folder, names[:30], args.upload_files, size
        )
        report["upload"] = figures
        emit(show_upload(figures))
    return report


def commit() -> str | None:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True)
    return done.stdout.decode().strip() or None


def parts(value: str) -> set[str]:
    chosen = {p.strip() for p in value.split(",") if p.strip()}
    if unknown := chosen - set(PARTS):
        raise argparse.ArgumentTypeError(f"unknown parts {sorted(unknown)}: choose from {PARTS}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=Path("../shared/eval/dev"))
    parser.add_argument("--limit", type=int, default=20, help="files for steps and model")
    parser.add_argument("--parts", type=parts, default=set(PARTS), help=",".join(PARTS))
    parser.add_argument("--model", help="default: DOCSORT_MODEL, else qwen2.5-coder:1.5b")
    parser.add_argument("--prefix-files", type=int, default=4, help="files a prefix scenario")
    parser.add_argument("--batch", type=int, default=30, help="files of the throughput batch")
    parser.add_argument("--upload-files", type=int, default=30)
    parser.add_argument("--upload-mb", type=int, default=25, help="size of each uploaded file")
    parser.add_argument("--out", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    if not 2 <= args.prefix_files or not 1 <= args.batch <= 30:
        parser.error("--prefix-files must be at least 2 (a prefix is shared), --batch 1 to 30")
    env = Settings.from_env()
    model = args.model or env.model
    folder = load_folder(args.folder, max(args.limit, args.batch, args.prefix_files))
    started = datetime.now().astimezone()
    meta = {
        "folder": str(args.folder),
        "limit": args.limit,
        "parts": [p for p in PARTS if p in args.parts],
        "model": model,
        "embed_model": env.embed_model,
        "commit": commit(),
        "prompts_hash": fingerprint(*env.prompts_dir.glob("*.j2")),
        "text_tokens": env.text_tokens,
        "embed_tokens": env.embed_tokens,
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "started": started.isoformat(timespec="seconds"),
    }
    tokens = PromptTokens(ensure_model(model))
    with running_model_server(model, ctx=env.model_ctx, threads=env.model_threads) as server:
        settings = dataclasses.replace(env, ollama_host=server.url, model=model)
        report = {"meta": meta} | asyncio.run(run(args, settings, folder, tokens))
    meta["load_average_after"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"bench-{args.folder.resolve().name}-{started:%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    load = f"{meta['load_average_before'][0]:.1f} before, {meta['load_average_after'][0]:.1f} after"
    print(f"\nwrote {path} (load average {load}: on a busy machine every figure is skewed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
