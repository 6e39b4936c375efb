"""The one job model. A file to classify, an extraction job and a webhook delivery are all
jobs: queued, then running under one claim, then done or failed. Each queue keeps its own
names for the states on the wire (a delivery is "pending", "sending", "delivered"); the
states, the moves between them and the retry delay are written once, here, and every state
change in the store goes through `JobStore.transition`, which refuses any other move.

An attempt is counted when a job is claimed and never given back. A running job keeps a
heartbeat; a run whose heartbeat stopped (its process died) is re-queued behind the others
by a sweep, or failed once it has been cut short `max_attempts` times.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .store import AsyncStore

log = logging.getLogger(__name__)


class Status(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


# Which states a job may move to from each state. Back to queued from anywhere: a retry, a
# run cut short, or a person's redo (which also resets a queued or running job's claim).
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.QUEUED: frozenset({Status.RUNNING, Status.QUEUED}),
    Status.RUNNING: frozenset({Status.DONE, Status.FAILED, Status.QUEUED}),
    Status.DONE: frozenset({Status.QUEUED}),
    Status.FAILED: frozenset({Status.QUEUED}),
}


class IllegalTransition(ValueError):
    """A bug, not bad input: code asked for a move the job model does not have."""


def sources(target: Status, allowed: frozenset[Status] | None = None) -> list[Status]:
    """The states a job may be in to move to `target` (within `allowed`, when given)."""
    found = [s for s, targets in TRANSITIONS.items() if target in targets]
    if allowed is not None:
        found = [s for s in found if s in allowed]
    if not found:
        raise IllegalTransition(f"no job moves from {sorted(allowed or ())} to {target}")
    return found


@dataclass(frozen=True)
class Queue:
    """Where one kind of job is stored, and what it calls each state."""

    table: str
    key: str
    names: dict[Status, str]
    interrupted: str  # the error of a job cut short too often; {n}: how many times

    def name(self, status: Status) -> str:
        return self.names[status]


_PLAIN = {
    Status.QUEUED: "queued",
    Status.RUNNING: "processing",
    Status.DONE: "processed",
    Status.FAILED: "failed",
}
FILES = Queue(
    "files",
    "id",
    _PLAIN,
    "processing was interrupted {n} times: the process stopped while reading or classifying"
    " this file",
)
EXTRACTIONS = Queue(
    "extraction_jobs",
    "file_id",
    _PLAIN,
    "extraction was interrupted {n} times: the process stopped while reading or extracting"
    " this file",
)
DELIVERIES = Queue(
    "webhook_deliveries",
    "id",
    {
        Status.QUEUED: "pending",
        Status.RUNNING: "sending",
        Status.DONE: "delivered",
        Status.FAILED: "failed",
    },
    "sending was interrupted {n} times: the process stopped while sending this event",
)


def next_retry_delay(attempts: int, base: float = 1.0, cap: float = 300.0) -> float:
    """Seconds before trying again after `attempts` tries: exponential, capped, with jitter
    so that jobs failing together do not come back together."""
    return min(base * 2.0 ** max(attempts - 1, 0), cap) * (0.5 + random.random())


# Told apart from a dead process that had the same pid (a restarted container's pid 1).
_STARTED = secrets.token_hex(4)


# This process, as claims and staged uploads name it.
PROCESS = f"{socket.gethostname()}:{os.getpid()}:{_STARTED}"


def new_owner() -> str:
    """Who holds a claim: this host and process, so a sweep on this host can tell a dead
    owner at once instead of waiting for its heartbeat to go stale."""
    return f"{PROCESS}:{secrets.token_hex(3)}"


def owner_is_dead(owner: str) -> bool:
    """True only when the owner (a claim's, or PROCESS) was a process on this host that no
    longer runs."""
    host, pid, started, *_ = [*owner.split(":"), "", "", ""]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return started != _STARTED
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


async def sweep(
    store: AsyncStore,
    stale_seconds: float,
    max_attempts: int,
    queues: tuple[Queue, ...],
) -> None:
    """Put back the runs of processes that died: at once for a dead process on this host,
    after `stale_seconds` without a heartbeat for any other."""
    owners = await store.run_owners(queues)
    dead = {o for o in owners if owner_is_dead(o)}
    for queue in queues:
        swept = await store.sweep(queue, time.time() - stale_seconds, dead, max_attempts)
        if swept.requeued or swept.failed:
            log.warning(
                "%s: %d run(s) of a stopped process re-queued, %d failed after %d interruptions",
                queue.table,
                swept.requeued,
                swept.failed,
                max_attempts,
            )
