"""Every state change of every job: one transition function over the job model in
app/jobs.py, and the claims, heartbeats and sweeps built on it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..ids import new_id
from ..jobs import DELIVERIES, EXTRACTIONS, FILES, Queue, Status, sources
from .base import StoreBase, now_iso

QUEUES = (FILES, EXTRACTIONS, DELIVERIES)


@dataclass(frozen=True)
class Sql:
    """A value computed by SQLite from the row (e.g. attempts + 1), not a parameter."""

    expression: str


@dataclass(frozen=True)
class Swept:
    requeued: int = 0
    failed: int = 0


class JobStore(StoreBase):
    def transition(
        self,
        queue: Queue,
        target: Status,
        where: str,
        params: list[Any],
        values: dict[str, Any] | None = None,
        *,
        allowed: frozenset[Status] | None = None,
    ) -> list[dict[str, Any]]:
        """Move the jobs of `queue` matching `where` to `target`, but only those in a state
        the job model lets move there (within `allowed`); returns the rows moved."""
        states = sources(target, allowed)
        values = {"status": queue.name(target), **(values or {})}
        sets = ", ".join(
            f"{k} = {v.expression}" if isinstance(v, Sql) else f"{k} = ?" for k, v in values.items()
        )
        args = [v for v in values.values() if not isinstance(v, Sql)]
        marks = ", ".join("?" * len(states))
        return self._rows(
            f"UPDATE {queue.table} SET {sets} WHERE status IN ({marks}) AND ({where}) RETURNING *",
            [*args, *(queue.name(s) for s in states), *params],
        )

    def _claim(
        self,
        queue: Queue,
        owner: str,
        pick: str,
        params: list[Any],
        values: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Claim the job `pick` selects: the attempt is counted now, for good."""
        rows = self.transition(
            queue,
            Status.RUNNING,
            f"{queue.key} = ({pick})",
            params,
            {
                "attempts": Sql("attempts + 1"),
                "run_token": new_id("run"),
                "owner": owner,
                "heartbeat_at": time.time(),
                **(values or {}),
            },
            allowed=frozenset({Status.QUEUED}),
        )
        return rows[0] if rows else None

    def _finish_run(
        self, queue: Queue, target: Status, key: str, token: str, values: dict[str, Any]
    ) -> bool:
        """End the run holding `token`; False when it no longer holds the job (redone,
        swept, or its job deleted), so what it made is dropped."""
        rows = self.transition(
            queue,
            target,
            f"{queue.key} = ? AND run_token = ?",
            [key, token],
            values,
            allowed=frozenset({Status.RUNNING}),
        )
        return bool(rows)

    def requeue_run(
        self, queue: Queue, key: str, token: str, error: str, run_after: float | None
    ) -> bool:
        """Put a run's job back: now and in its place (the model server was down), or after
        `run_after` and behind the others, a retry counted (an error about this job)."""
        values: dict[str, Any] = {"error": error, "run_token": None, "owner": None}
        if run_after is not None:
            values |= {
                "queued_at": time.time(),
                "retries": Sql("retries + 1"),
                "run_after": run_after,
            }
        return self._finish_run(queue, Status.QUEUED, key, token, values)

    def heartbeat(self, owner: str, queues: tuple[Queue, ...]) -> None:
        """Say this owner's runs in `queues` are alive (not a state change)."""
        now = time.time()
        for queue in queues:
            self.db.execute(
                f"UPDATE {queue.table} SET heartbeat_at = ? WHERE status = ? AND owner = ?",
                [now, queue.name(Status.RUNNING), owner],
            )

    def run_owners(self, queues: tuple[Queue, ...]) -> set[str]:
        """Who holds the runs under way in `queues`."""
        found: set[str] = set()
        for queue in queues:
            found |= {
                r["owner"]
                for r in self._rows(
                    f"SELECT DISTINCT owner FROM {queue.table} WHERE status = ? AND owner"
                    " IS NOT NULL",
                    [queue.name(Status.RUNNING)],
                )
            }
        return found

    def sweep(
        self,
        queue: Queue,
        stale_before: float,
        dead_owners: set[str],
        max_interruptions: int,
    ) -> Swept:
        """Runs whose process died (heartbeat older than `stale_before`, or an owner known
        dead): each counts as an interruption; re-queued behind the others, or failed with
        a reason after `max_interruptions`."""
        owners = sorted(dead_owners)
        lost = (
            f"(heartbeat_at IS NULL OR heartbeat_at < ?"
            f" OR owner IN ({', '.join('?' * len(owners)) or 'NULL'}))"
        )
        params: list[Any] = [stale_before, *owners]
        running = frozenset({Status.RUNNING})
        with self.atomic():
            failed = self.transition(
                queue,
                Status.FAILED,
                f"{lost} AND interruptions + 1 >= ?",
                [*params, max_interruptions],
                {
                    "interruptions": Sql("interruptions + 1"),
                    "error": Sql(
                        " || (interruptions + 1) || ".join(
                            f"'{part}'" for part in queue.interrupted.split("{n}")
                        )
                    ),
                    "run_token": None,
                    "owner": None,
                    **({} if queue is DELIVERIES else {"finished_at": now_iso()}),
                },
                allowed=running,
            )
            requeued = self.transition(
                queue,
                Status.QUEUED,
                lost,
                params,
                {
                    "interruptions": Sql("interruptions + 1"),
                    "run_token": None,
                    "owner": None,
                    # Behind the others; deliveries keep their order, one file's in turn.
                    **({} if queue is DELIVERIES else {"queued_at": time.time()}),
                },
                allowed=running,
            )
            if queue is EXTRACTIONS:
                for row in failed:
                    self._job_done(row["file_id"])  # type: ignore[attr-defined]
        return Swept(len(requeued), len(failed))

    def release(self, owner: str) -> int:
        """A stopping process hands its runs back (their attempts stay counted)."""
        released = 0
        for queue in QUEUES:
            released += len(
                self.transition(
                    queue,
                    Status.QUEUED,
                    "owner = ?",
                    [owner],
                    {"run_token": None, "owner": None},
                    allowed=frozenset({Status.RUNNING}),
                )
            )
        return released
