"""The benchmark's arithmetic (scripts/bench.py) and the worker's trace (app/trace.py)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from app import trace
from app.model import Timings
from app.trace import Traces, step

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import bench  # noqa: E402


def test_spread_is_median_and_p90() -> None:
    assert bench.spread([1.0, 2.0, 3.0, 4.0, 100.0]) == {"median": 3.0, "p90": pytest.approx(61.6)}
    assert bench.spread([]) == {"median": None, "p90": None}


def test_overhead_ratio_weighs_files_by_their_seconds() -> None:
    assert bench.overhead_ratio([2.0, 11.0], [1.0, 10.0]) == pytest.approx(13 / 11)


def test_common_prefix() -> None:
    assert bench.common_prefix([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]]) == 2
    assert bench.common_prefix([[1, 2], [1, 2, 3]]) == 2
    assert bench.common_prefix([[7], [8]]) == 0


def test_prefix_read_once_then_taken_from_the_cache() -> None:
    # A prefix of 3 tokens; each prompt has a suffix of its own (2, 1 and 3 tokens).
    prompts = [[1, 2, 3, 10, 11], [1, 2, 3, 20], [1, 2, 3, 30, 31, 32]]
    figures = bench.prefix_reads(prompts, [5, 1, 3])
    assert figures == {"calls": 3, "prefix_tokens": 3, "reread": [3, 0, 0], "reads": 1.0}


def test_prefix_read_again_counts_only_what_the_suffix_does_not_explain() -> None:
    prompts = [[1, 2, 3, 4, 10], [1, 2, 3, 4, 20], [1, 2, 3, 4, 30]]
    # The second prompt read whole (another prompt came between), the third half of it.
    figures = bench.prefix_reads(prompts, [5, 5, 3])
    assert figures["reread"] == [4, 4, 2]
    assert figures["reads"] == 2.5


def test_file_row_sums_the_calls_and_leaves_the_rest_to_other() -> None:
    job = trace.Trace("file_1", "files", {"read": 0.5, "model": 3.0}, total=4.0)
    job.calls = [Timings(100, 1.0, 20, 1.5), Timings(10, 0.1, 5, 0.2)]  # a retry
    row = bench.file_row("a.pdf", job, prompt_tokens=300)
    assert row["seconds"] == 4.0
    assert row["read"] == 0.5 and row["embed"] == 0.0
    assert row["other"] == pytest.approx(0.5)
    assert (row["model_calls"], row["prompt_read"], row["prompt_reused"]) == (2, 110, 190)
    assert row["generated"] == 25
    assert row["reading_seconds"] == pytest.approx(1.1)
    assert row["generating_seconds"] == pytest.approx(1.7)


def test_chained_reads_count_a_files_reads_over_both_its_jobs() -> None:
    def job(file_id: str, kind: str, reads: int) -> trace.Trace:
        return trace.Trace(file_id, kind, runs={"read": reads} if reads else {"model": 1})

    traces = [
        job("file_a", "files", 1),
        job("file_a", "extraction_jobs", 0),  # read once, for both
        job("file_b", "files", 1),
        job("file_b", "extraction_jobs", 1),  # read again by its extraction
        job("file_c", "files", 1),  # no extraction: not a chained file
    ]
    assert bench.chained_reads(traces) == 1.5
    assert bench.chained_reads(traces[:2]) == 1.0
    assert bench.chained_reads(traces[4:]) is None
    assert bench.show_reads(1.0) == ["chained file reads per file: 1.00 (target 1)"]


def test_parts_are_checked() -> None:
    assert bench.parts("steps, model") == {"steps", "model"}
    with pytest.raises(Exception, match="unknown parts"):
        bench.parts("steps,speed")


def test_a_step_inside_another_counts_once(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 1.0, 2.0, 5.0, 6.0, 10.0])  # job, outer, inner in/out, outer out, job
    monkeypatch.setattr(trace.time, "perf_counter", lambda: next(clock))
    traces = Traces()
    with traces.job("file_1", "files") as job:
        with step("learn"):
            with step("store"):
                pass
    assert job.seconds == {"store": 3.0, "learn": 2.0}
    assert job.total == 10.0 and job.other == 5.0
    assert job.runs == {"learn": 1, "store": 1}


def test_a_trace_counts_how_often_each_step_ran() -> None:
    traces = Traces()
    with traces.job("file_1", "files") as job:
        for _ in range(3):
            with step("store"):
                pass
        with step("read"):
            pass
    assert job.runs == {"store": 3, "read": 1}


def test_outside_a_job_nothing_is_recorded() -> None:
    with step("read"):
        trace.note_call(Timings(1, 0.1, 1, 0.1))
    assert trace.current() is None


def test_a_trace_is_kept_however_the_job_ends_and_only_the_last_ones() -> None:
    traces = Traces(keep=2)
    for job_id in ("a", "b", "c"):
        with pytest.raises(RuntimeError), traces.job(job_id, "files"):
            trace.note_call(Timings(7, 0.1, 1, 0.1))
            raise RuntimeError
    assert [t.job_id for t in traces.done] == ["b", "c"]
    assert traces.done[-1].calls == [Timings(7, 0.1, 1, 0.1)]
    assert trace.current() is None


async def test_concurrent_jobs_keep_their_own_traces() -> None:
    traces = Traces()

    async def job(job_id: str, pause: float) -> None:
        with traces.job(job_id, "files"):
            with step("model"):
                await asyncio.sleep(pause)
                trace.note_call(Timings(len(job_id), 0.0, 0, 0.0))

    await asyncio.gather(job("a", 0.02), job("bb", 0.01))
    by_id = {t.job_id: t for t in traces.done}
    assert [c.prompt_eval_count for c in by_id["a"].calls] == [1]
    assert [c.prompt_eval_count for c in by_id["bb"].calls] == [2]
    assert by_id["a"].seconds["model"] > by_id["bb"].seconds["model"]


def test_files_by_host_counts_each_file_once_on_every_host_that_classified_it() -> None:
    timings = Timings(10, 0.1, 5, 0.2)
    first, second = bench.Recorder(None), bench.Recorder(None)
    first.calls = [
        bench.Call({}, "f1", "files", timings),
        bench.Call({}, "f1", "files", timings),  # a retry on the same host
        bench.Call({}, "e1", "extraction_jobs", timings),
    ]
    second.calls = [bench.Call({}, "f1", "files", timings), bench.Call({}, "f2", "files", timings)]
    assert bench.files_by_host({"a": first, "b": second}) == {"a": 1, "b": 2}


async def test_the_recorder_keeps_every_request_in_order_and_the_chats_apart() -> None:
    class Server:
        async def chat(self, **request):
            return SimpleNamespace(
                prompt_eval_count=3, prompt_eval_duration=0, eval_count=1, eval_duration=0
            )

        async def embed(self, **request):
            return SimpleNamespace(embeddings=[[1.0]])

    recorder = bench.Recorder(Server())
    await recorder.embed(model="e5", input="a description")  # outside a job: not a file's
    with Traces().job("f1", "files"):
        await recorder.embed(model="e5", input="query: text")
        await recorder.chat(model="qwen", messages=[])
    assert [(c.route, c.job_id) for c in recorder.sent] == [("embed", "f1"), ("chat", "f1")]
    assert [c.route for c in recorder.calls] == ["chat"]
    assert recorder.sent[0].request == {"model": "e5", "input": "query: text"}


async def test_pairs_send_each_files_requests_again_from_the_cache_docsort_found() -> None:
    asked: list[tuple[str, dict]] = []

    class Server:
        async def chat(self, **request):
            asked.append(("chat", request))
            read = 0 if request.get("options", {}).get("num_predict") == 1 else 5
            return SimpleNamespace(
                prompt_eval_count=read, prompt_eval_duration=2e9, eval_count=1, eval_duration=1e9
            )

        async def embed(self, **request):
            asked.append(("embed", request))

    def chat(job_id: str, read: int) -> bench.Call:
        request = {"messages": [job_id], "format": {"type": "object"}, "options": {"seed": 1}}
        return bench.Call(request, job_id, "files", Timings(read, 0.1, 1, 0.1))

    recorder = bench.Recorder(None)
    pairs = bench.Pairs(SimpleNamespace(model_host="http://x", model_timeout=5), recorder)
    pairs.client = Server()
    embed = bench.Call({"input": "f1"}, "f1", "files", Timings(0, 0, 0, 0), "embed")
    recorder.sent = [embed, chat("f1", 700)]
    await pairs()
    recorder.sent.append(chat("f2", 5))
    await pairs()
    await pairs()  # nothing new: nothing sent
    assert [(route, r.get("messages"), r.get("options")) for route, r in asked] == [
        ("embed", None, None),
        ("chat", ["f1"], {"seed": 1}),
        ("chat", ["f1"], {"seed": 1, "num_predict": 1}),  # f1's floor
        ("chat", ["f1"], {"seed": 1, "num_predict": 1}),  # f1's prompt back in the cache
        ("chat", ["f2"], {"seed": 1}),
        ("chat", ["f1"], {"seed": 1, "num_predict": 1}),  # and again, for f2's floor
        ("chat", ["f2"], {"seed": 1, "num_predict": 1}),
    ]
    assert asked[2][1]["format"] is None
    assert pairs.unlike == {"f1"} and pairs.same_reads == 1
    assert set(pairs.seconds) == {"f1", "f2"} and set(pairs.chat_seconds) == {"f1", "f2"}
    assert pairs.server_seconds == {"f1": 3.0, "f2": 3.0}
    assert set(pairs.floor) == {"f1", "f2"}
