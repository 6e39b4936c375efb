"""A model server that does not answer is nobody's file's fault: while it is down the worker
claims nothing (files stay queued, in order), probes it with a capped backoff, and resumes
by itself when it answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from .jobs import next_retry_delay


@dataclass(frozen=True)
class WorkerState:
    """What /health says about the worker."""

    state: str  # "working", or "waiting_for_model"
    since: str | None = None
    error: str | None = None


class Outage:
    def __init__(
        self,
        probe: Callable[[], Awaitable[bool]],
        base_seconds: float = 1.0,
        cap_seconds: float = 10.0,
    ):
        """`probe` says whether the model server answers now."""
        self.probe = probe
        self.base_seconds = base_seconds
        self.cap_seconds = cap_seconds
        self.down_since: float | None = None
        self.error = ""
        self._probes = 0
        self._next_probe = 0.0
        self._lock = asyncio.Lock()

    def report(self, error: str) -> None:
        """A run found the model server down."""
        if self.down_since is None:
            self.down_since, self._probes = time.time(), 0
            self._next_probe = time.monotonic() + next_retry_delay(
                1, self.base_seconds, self.cap_seconds
            )
        self.error = error

    async def ready(self) -> bool:
        """Whether to claim work now: the server was not seen down, or a due probe says it
        is back."""
        if self.down_since is None:
            return True
        async with self._lock:
            if self.down_since is None:
                return True
            if time.monotonic() < self._next_probe:
                return False
            if await self.probe():
                self.down_since, self.error = None, ""
                return True
            self._probes += 1
            delay = next_retry_delay(self._probes + 1, self.base_seconds, self.cap_seconds)
            self._next_probe = time.monotonic() + delay
            return False

    def state(self) -> WorkerState:
        if self.down_since is None:
            return WorkerState("working")
        since = datetime.fromtimestamp(self.down_since, UTC).isoformat(timespec="seconds")
        return WorkerState("waiting_for_model", since.replace("+00:00", "Z"), self.error)
