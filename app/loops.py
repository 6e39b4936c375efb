"""The background loop the worker and the webhook deliverer share: a few tasks that each
run one step after another while there is work, sleep until woken (or `poll_seconds`
pass) when there is none, and stop gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Loops:
    def __init__(self, step: Callable[[], Awaitable[bool]], name: str, poll_seconds: float):
        """`step` does one piece of work and says whether it found any."""
        self.step = step
        self.name = name
        self.poll_seconds = poll_seconds
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    def wake(self) -> None:
        self._wakeup.set()

    def start(self, count: int) -> None:
        self._stopping = False
        self._tasks = [asyncio.create_task(self._run()) for _ in range(count)]

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

    async def _run(self) -> None:
        while not self._stopping:
            try:
                if await self.step():
                    continue
            except Exception:
                log.exception("%s loop error", self.name)
            self._wakeup.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.poll_seconds)
