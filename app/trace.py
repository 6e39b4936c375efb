"""Where a job's time goes: the seconds of each step, always on, kept in memory by the worker
for its last jobs (`make bench` reads them).

The code that runs a step times it (`with step("read"):`) for the job its task is running: a
context variable, so no trace is passed around and code run outside a job records nothing.
A step inside another is taken out of the outer one, so each second counts once and what no
step claims is docsort's own glue. A step costs two clock reads.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Timings

KEEP = 1000  # traces kept: a few hundred bytes each


@dataclass
class Trace:
    job_id: str
    kind: str  # the job's queue: "files" or "extraction_jobs"
    seconds: dict[str, float] = field(default_factory=dict)  # by step, repeats summed
    runs: dict[str, int] = field(default_factory=dict)  # by step, how often it ran
    calls: list[Timings] = field(default_factory=list)  # each model call, as the server timed it
    total: float = 0.0  # from the claimed job's start to its end (the verdict stored)
    open: str | None = None  # the step running now

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    @property
    def other(self) -> float:
        """What no step claims: docsort's glue between the steps."""
        return self.total - sum(self.seconds.values())


_current: ContextVar[Trace | None] = ContextVar("trace", default=None)


def current() -> Trace | None:
    return _current.get()


@contextmanager
def step(name: str) -> Iterator[None]:
    """Time the block as `name` in the current job's trace, if there is one."""
    trace = _current.get()
    if trace is None:
        yield
        return
    outer, trace.open = trace.open, name
    trace.runs[name] = trace.runs.get(name, 0) + 1
    started = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - started
        trace.open = outer
        trace.add(name, elapsed)
        if outer is not None:
            trace.add(outer, -elapsed)


def note_call(timings: Timings) -> None:
    """Keep a model call's own timings in the current job's trace."""
    if (trace := _current.get()) is not None:
        trace.calls.append(timings)


class Traces:
    """The last `keep` jobs' traces, oldest first."""

    def __init__(self, keep: int = KEEP):
        self.done: deque[Trace] = deque(maxlen=keep)

    @contextmanager
    def job(self, job_id: str, kind: str) -> Iterator[Trace]:
        """Trace the block as one run of a job; kept once it ends, however it ends."""
        trace = Trace(job_id, kind)
        token = _current.set(trace)
        started = time.perf_counter()
        try:
            yield trace
        finally:
            trace.total = time.perf_counter() - started
            _current.reset(token)
            self.done.append(trace)
