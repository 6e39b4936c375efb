"""The background loop the worker and the webhook deliverer share: a few tasks that each
run one step after another while there is work, sleep until woken (or `poll_seconds`
pass) when there is none, and stop gracefully; beside them an upkeep task (heartbeats,
the sweep of runs a dead process left) every `upkeep_seconds`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Loops:
    def __init__(
        self,
        name: str,
        poll_seconds: float,
        upkeep: Callable[[], Awaitable[None]] | None = None,
        upkeep_seconds: float = 5.0,
    ):
        self.name = name
        self.poll_seconds = poll_seconds
        self.upkeep = upkeep
        self.upkeep_seconds = upkeep_seconds
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._upkeep_task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wakeup.set()

    def start(self, steps: list[Callable[[], Awaitable[bool]]]) -> None:
        """A task for each step; a step does one piece of work and says whether it found
        any."""
        self._stopping = False
        self._tasks = [asyncio.create_task(self._run(step)) for step in steps]
        if self.upkeep is not None:
            self._upkeep_task = asyncio.create_task(self._keep_up(self.upkeep))

    async def stop(self, grace: float) -> None:
        """Stop taking work, give steps in flight `grace` seconds, then cancel them."""
        self._stopping = True
        self.wake()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._upkeep_task is not None:
            self._upkeep_task.cancel()
            await asyncio.gather(self._upkeep_task, return_exceptions=True)
            self._upkeep_task = None

    async def _keep_up(self, upkeep: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(self.upkeep_seconds)
            try:
                await upkeep()
            except Exception:
                log.exception("%s upkeep error", self.name)

    async def _run(self, step: Callable[[], Awaitable[bool]]) -> None:
        while not self._stopping:
            try:
                if await step():
                    continue
            except Exception:
                log.exception("%s loop error", self.name)
            self._wakeup.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.poll_seconds)
