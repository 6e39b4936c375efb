"""The job model: its transitions, its retry delay, who is a dead owner, the sweep."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from app.api import create_app
from app.jobs import (
    DELIVERIES,
    FILES,
    PROCESS,
    TRANSITIONS,
    IllegalTransition,
    Status,
    new_owner,
    next_retry_delay,
    owner_is_dead,
    sources,
)
from app.store import AsyncStore

from .conftest import DEAD_OWNER, upload


def test_every_state_can_be_queued_again_and_only_a_run_finishes():
    assert all(Status.QUEUED in targets for targets in TRANSITIONS.values())
    assert sources(Status.DONE) == [Status.RUNNING]
    assert sources(Status.RUNNING) == [Status.QUEUED]
    with pytest.raises(IllegalTransition):
        sources(Status.DONE, frozenset({Status.FAILED}))


def test_retry_delay_grows_is_capped_and_jittered():
    assert all(0.5 <= next_retry_delay(1) <= 1.5 for _ in range(50))
    assert all(4 <= next_retry_delay(4) <= 12 for _ in range(50))
    assert all(next_retry_delay(40, 5.0, 60.0) <= 90 for _ in range(50))
    assert len({next_retry_delay(3) for _ in range(20)}) > 1


def test_an_owner_is_dead_only_when_its_process_on_this_host_is_gone():
    assert not owner_is_dead(new_owner())  # this very process
    assert not owner_is_dead(PROCESS)
    assert owner_is_dead(DEAD_OWNER)
    host = PROCESS.split(":")[0]
    assert owner_is_dead(f"{host}:{os.getpid()}:an-earlier-run:1")  # a restart, same pid
    assert not owner_is_dead(f"{host}:1:started:1")  # init runs: alive
    assert not owner_is_dead("another-host:4194305:x:1")  # can't tell: wait for heartbeat


async def test_a_stale_heartbeat_is_requeued_behind_the_others_then_failed(
    client, inbox, store, worker
):
    await upload(client, inbox["id"], {"a.txt": b"Invoice", "b.txt": b"Receipt"})
    gone, alive = "another-host:77:x:1", "third-host:78:x:1"

    async def stop_beating() -> None:
        store.sync.db.execute("UPDATE files SET heartbeat_at = 0 WHERE owner = ?", [gone])
        await worker.upkeep()

    claimed = await store.claim_file(gone)
    await worker.upkeep()  # its heartbeat is fresh: it may be alive on its host
    assert (await store.get_file(claimed["id"]))["status"] == "processing"

    await stop_beating()
    row = await store.get_file(claimed["id"])
    assert row["status"] == "queued" and row["interruptions"] == 1
    assert row["attempts"] == 1  # counted when claimed, never given back
    assert (await store.claim_file(alive))["id"] != claimed["id"]  # it went behind

    for _ in (2, 3):  # two more runs cut short
        assert (await store.claim_file(gone))["id"] == claimed["id"]
        await stop_beating()
    row = await store.get_file(claimed["id"])
    assert row["status"] == "failed" and row["attempts"] == 3
    assert row["error"] == (
        "processing was interrupted 3 times: the process stopped while reading or"
        " classifying this file"
    )


async def test_a_heartbeat_keeps_a_long_run_alive(client, inbox, store, worker):
    await upload(client, inbox["id"], {"a.txt": b"Invoice"})
    claimed = await store.claim_file(worker.owner)
    store.sync.db.execute("UPDATE files SET heartbeat_at = 0")
    await store.heartbeat(worker.owner, (FILES,))
    await store.sweep(FILES, time.time() - 30, set(), 3)
    assert (await store.get_file(claimed["id"]))["status"] == "processing"


async def test_a_delivery_left_sending_by_a_dead_process_is_sent_again(
    client, inbox, store, worker, deliverer, receiver
):
    hook = {"url": receiver.url, "events": ["file.classified"]}
    assert (await client.post("/v1/webhooks", json=hook)).status_code == 201
    await upload(client, inbox["id"], {"a.txt": b"Invoice"})
    await worker.drain()
    sending = await store.claim_delivery(DEAD_OWNER)
    assert sending["status"] == DELIVERIES.name(Status.RUNNING)
    await deliverer.upkeep()
    assert await deliverer.drain() == 1
    row = store.sync.db.execute(
        "SELECT status, attempts, interruptions FROM webhook_deliveries"
    ).fetchone()
    assert row == ("delivered", 2, 1)
    assert len(receiver.received) == 1


async def test_two_workers_on_one_database_share_a_batch_without_doing_a_file_twice(
    settings, store, fake_model, client, inbox
):
    files = {f"{i}.txt": b"Invoice" if i % 2 else b"Receipt" for i in range(12)}
    batch = await upload(client, inbox["id"], files)
    second_store = AsyncStore(settings.db_path)
    try:
        second = create_app(settings, second_store, fake_model, run_worker=False).state.worker
        first = client.app.state.worker
        counts = await asyncio.gather(first.drain(), second.drain())
    finally:
        second_store.close()
    assert sum(counts) == 12 and all(counts)
    view = (await client.get(f"/v1/classifications/{inbox['id']}/batches/{batch['id']}")).json()
    assert [f["attempts"] for f in view["files"]] == [1] * 12
    assert view["batch"]["processed_count"] == 12
