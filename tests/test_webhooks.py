"""Webhooks: registration, signed events, at-least-once delivery with backoff, restarts.

Every request goes to a receiver on 127.0.0.1 (tests/receiver.py) or to a closed port there.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace

import pytest
from litestar.testing import AsyncTestClient

from app.api import create_app
from app.store import AsyncStore
from app.webhooks import (
    ATTEMPT_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    verify,
)

from .conftest import BASE_URL, DEAD_OWNER, INBOX, upload
from .modelserver_fixture import free_port
from .test_chaining import BILL, inbox_linking
from .test_extractions import create_extraction

BOTH = ["file.classified", "file.processed"]


async def create_webhook(client, url: str, events=BOTH) -> dict:
    response = await client.post("/v1/webhooks", json={"url": url, "events": events})
    assert response.status_code == 201, response.text
    return response.json()["webhook"]


async def deliveries(client, hook_id: str) -> list[dict]:
    response = await client.get(f"/v1/webhooks/{hook_id}/deliveries")
    assert response.status_code == 200, response.text
    return response.json()["deliveries"]


def make_due(store: AsyncStore) -> None:
    """Skip the backoff wait, as if the time had come."""
    store.sync.db.execute(
        "UPDATE webhook_deliveries SET next_attempt_at = 0 WHERE status = 'pending'"
    )


async def classify_one(client, worker, cls_id: str, text: bytes = b"Receipt") -> dict:
    batch = await upload(client, cls_id, {"doc.txt": text})
    await worker.drain()
    view = (await client.get(f"/v1/classifications/{cls_id}/batches/{batch['id']}")).json()
    return view["files"][0]


# Registration -------------------------------------------------------------------------------


async def test_create_list_show_delete(client):
    hook = await create_webhook(client, "http://127.0.0.1:9000/hook")
    assert re.fullmatch(r"wh_[0-9A-Z]{26}", hook["id"])
    assert re.fullmatch(r"whsec_[0-9a-f]{64}", hook["secret"])
    assert hook["url"] == "http://127.0.0.1:9000/hook" and hook["events"] == BOTH

    listed = (await client.get("/v1/webhooks")).json()["webhooks"]
    assert listed == [{k: v for k, v in hook.items() if k != "secret"}]
    shown = (await client.get(f"/v1/webhooks/{hook['id']}")).json()["webhook"]
    assert shown == hook

    assert (await client.delete(f"/v1/webhooks/{hook['id']}")).status_code == 204
    assert (await client.get(f"/v1/webhooks/{hook['id']}")).status_code == 404
    assert (await client.delete(f"/v1/webhooks/{hook['id']}")).status_code == 404
    assert (await client.get(f"/v1/webhooks/{hook['id']}/deliveries")).status_code == 404


@pytest.mark.parametrize(
    "url", ["http://localhost:8080/x", "https://127.0.0.2/x", "http://[::1]:9/hook"]
)
async def test_loopback_urls_are_allowed(client, url):
    await create_webhook(client, url, ["file.processed"])


@pytest.mark.parametrize(
    "body, code",
    [
        ({"url": "http://example.com/hook", "events": BOTH}, "webhook_host_not_allowed"),
        ({"url": "http://192.168.1.5/hook", "events": BOTH}, "webhook_host_not_allowed"),
        ({"url": "ftp://127.0.0.1/hook", "events": BOTH}, "invalid_webhook_url"),
        ({"url": "127.0.0.1:9000/hook", "events": BOTH}, "invalid_webhook_url"),
        ({"url": "http://127.0.0.1:port/hook", "events": BOTH}, "invalid_webhook_url"),
        ({"url": "http://127.0.0.1/hook", "events": []}, "invalid_input"),
        ({"url": "http://127.0.0.1/hook", "events": ["file.deleted"]}, "invalid_input"),
        ({"url": "http://127.0.0.1/hook"}, "invalid_input"),
    ],
)
async def test_refused_webhooks(client, body, code):
    response = await client.post("/v1/webhooks", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code
    assert (await client.get("/v1/webhooks")).json() == {"webhooks": []}


async def test_a_setting_allows_other_hosts(settings, store, fake_model):
    settings = replace(settings, webhook_allowed_hosts=("hooks.internal",))
    app = create_app(settings, store, fake_model, run_worker=False)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        await create_webhook(client, "https://hooks.internal/docsort")
        response = await client.post(
            "/v1/webhooks", json={"url": "https://elsewhere.example/x", "events": BOTH}
        )
        assert response.status_code == 422


def test_signatures_verify_and_old_or_tampered_ones_do_not():
    body, secret, now = b'{"id":"evt_1"}', "whsec_abc", 1_800_000_000
    headers = {TIMESTAMP_HEADER: str(now), SIGNATURE_HEADER: sign(secret, now, body)}
    assert headers[SIGNATURE_HEADER].startswith("v1=")
    assert verify(secret, headers, body, now=now + 10)
    assert not verify(secret, headers, body + b" ", now=now)
    assert not verify("whsec_other", headers, body, now=now)
    assert not verify(secret, headers, body, now=now + 301)  # a replay, too late
    assert not verify(secret, {TIMESTAMP_HEADER: "soon"}, body, now=now)


# Delivery -----------------------------------------------------------------------------------


async def test_events_are_signed_and_carry_the_file_as_the_api_shows_it(
    client, worker, deliverer, receiver
):
    ext = await create_extraction(client)
    cls = (await client.post("/v1/classifications", json=inbox_linking(ext["id"]))).json()
    cls = cls["classification"]
    hook = await create_webhook(client, receiver.url)
    file = await classify_one(client, worker, cls["id"], BILL)

    assert await deliverer.drain() == 2
    assert [e["type"] for e in receiver.events] == ["file.classified", "file.processed"]
    for got in receiver.received:
        assert verify(hook["secret"], got.headers, got.body)
        assert {k.lower(): v for k, v in got.headers.items()}["content-type"] == (
            "application/json"
        )
        assert got.headers[EVENT_ID_HEADER] == got.event["id"]
        assert got.headers[EVENT_TYPE_HEADER] == got.event["type"]
        assert got.headers[ATTEMPT_HEADER] == "1"
        assert re.fullmatch(r"evt_[0-9A-Z]{26}", got.event["id"])
        assert set(got.event) == {"id", "type", "created_at", "data"}

    classified, processed = receiver.events
    assert classified["data"]["id"] == file["id"]
    assert classified["data"]["verdict_source"] == "model"
    assert classified["data"]["classified_category_name"] == "Invoice"
    assert classified["data"]["extraction"]["status"] == "queued"  # as it was then
    assert processed["data"] == file  # the file as the API shows it now
    assert processed["data"]["extraction"]["data"]["invoice_number"] == "INV-7"

    shown = await deliveries(client, hook["id"])
    assert [d["event_type"] for d in shown] == ["file.processed", "file.classified"]
    assert all(d["status"] == "delivered" and d["delivered_at"] for d in shown)
    assert all(d["attempts"][0]["status_code"] == 200 for d in shown)
    assert await deliverer.drain() == 0


async def test_a_receiver_that_fails_twice_then_succeeds(
    client, worker, deliverer, receiver, inbox, store
):
    receiver.statuses = [500, 503]
    hook = await create_webhook(client, receiver.url, ["file.classified"])
    await classify_one(client, worker, inbox["id"])

    assert await deliverer.drain() == 1  # 500
    [delivery] = await deliveries(client, hook["id"])
    assert delivery["status"] == "pending" and delivery["next_attempt_at"]
    waits = store.sync.db.execute("SELECT next_attempt_at FROM webhook_deliveries").fetchone()
    assert 2.5 - 0.5 <= waits[0] - time.time() <= 7.5  # 5 s base, jittered
    assert await deliverer.drain() == 0  # backing off: not due yet

    make_due(store)
    assert await deliverer.drain() == 1  # 503
    make_due(store)
    assert await deliverer.drain() == 1  # 200
    make_due(store)
    assert await deliverer.drain() == 0  # delivered: never again

    assert [r.status for r in receiver.received] == [500, 503, 200]
    assert len({r.event["id"] for r in receiver.received}) == 1
    assert [r.headers[ATTEMPT_HEADER] for r in receiver.received] == ["1", "2", "3"]
    assert all(verify(hook["secret"], r.headers, r.body) for r in receiver.received)

    [delivery] = await deliveries(client, hook["id"])
    assert delivery["status"] == "delivered" and delivery["attempt_count"] == 3
    assert delivery["next_attempt_at"] is None
    attempts = delivery["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["status_code"] for a in attempts] == [500, 503, 200]
    assert attempts[0]["error"] == "the receiver answered 500: receiver says no"
    assert attempts[1]["error"].startswith("the receiver answered 503")
    assert attempts[2]["error"] is None
    assert all(a["at"] and a["duration_ms"] >= 0 for a in attempts)


async def test_delivery_gives_up_after_max_attempts(settings, store, fake_model, receiver):
    settings = replace(settings, webhook_max_attempts=2)
    app = create_app(settings, store, fake_model, run_worker=False)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        inbox = (await client.post("/v1/classifications", json=INBOX)).json()["classification"]
        receiver.statuses = [500, 500, 500]
        hook = await create_webhook(client, receiver.url)
        await classify_one(client, app.state.worker, inbox["id"])
        assert await app.state.deliverer.drain() == 1
        make_due(store)
        assert await app.state.deliverer.drain() == 1
        make_due(store)
        assert await app.state.deliverer.drain() == 0
        [delivery] = await deliveries(client, hook["id"])
    assert delivery["status"] == "failed" and len(delivery["attempts"]) == 2
    assert len(receiver.received) == 2


async def test_timeouts_and_dead_receivers_are_retried(settings, store, fake_model, receiver):
    settings = replace(settings, webhook_timeout=0.5)
    app = create_app(settings, store, fake_model, run_worker=False)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        inbox = (await client.post("/v1/classifications", json=INBOX)).json()["classification"]
        slow = await create_webhook(client, receiver.url)
        dead = await create_webhook(client, f"http://127.0.0.1:{free_port()}/hook")
        receiver.gate.clear()
        await classify_one(client, app.state.worker, inbox["id"])
        started = time.monotonic()
        assert await app.state.deliverer.drain() == 2
        assert time.monotonic() - started < 5
        receiver.gate.set()
        [timed_out] = (await deliveries(client, slow["id"]))[0]["attempts"]
        [refused] = (await deliveries(client, dead["id"]))[0]["attempts"]
    assert timed_out["error"] == "no answer within 0.5 s" and timed_out["status_code"] is None
    assert refused["error"].startswith("ConnectError")
    for hook in (slow, dead):
        shown = (await deliveries(client, hook["id"]))[0]
        assert shown["status"] == "pending" and shown["next_attempt_at"]


async def test_a_restart_with_pending_deliveries_still_delivers_them(
    settings, fake_model, receiver
):
    first = AsyncStore(settings.db_path)
    app = create_app(settings, first, fake_model, run_worker=False)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        inbox = (await client.post("/v1/classifications", json=INBOX)).json()["classification"]
        hook = await create_webhook(client, receiver.url)
        await upload(client, inbox["id"], {"a.txt": b"Receipt", "b.txt": b"Invoice"})
        await app.state.worker.drain()
        # One delivery was being sent when the process died; the other never started.
        assert await first.claim_delivery(DEAD_OWNER) is not None
    first.close()
    assert receiver.received == []

    second = AsyncStore(settings.db_path)
    app = create_app(settings, second, fake_model)  # its lifespan starts the deliverer
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        for _ in range(100):
            shown = await deliveries(client, hook["id"])
            if all(d["status"] == "delivered" for d in shown):
                break
            await asyncio.sleep(0.05)
    second.close()
    assert [d["status"] for d in shown] == ["delivered", "delivered"]
    assert sorted(e["data"]["file_name"] for e in receiver.events) == ["a.txt", "b.txt"]
    assert all(verify(hook["secret"], r.headers, r.body) for r in receiver.received)


async def test_a_slow_receiver_never_holds_up_classification(
    client, worker, deliverer, receiver, inbox
):
    await create_webhook(client, receiver.url, ["file.classified"])
    receiver.gate.clear()  # the receiver takes every request and answers none
    await deliverer.start()
    try:
        await classify_one(client, worker, inbox["id"])
        assert await asyncio.to_thread(receiver.arrived.wait, 10)
        started = time.monotonic()
        batch = await upload(client, inbox["id"], {f"{i}.txt": b"Invoice" for i in range(5)})
        assert await worker.drain() == 5
        assert time.monotonic() - started < 2
        view = await client.get(f"/v1/classifications/{inbox['id']}/batches/{batch['id']}")
        assert view.json()["batch"]["status"] == "processed"
    finally:
        receiver.gate.set()
        await deliverer.stop()


async def test_events_about_one_file_arrive_in_order(client, worker, deliverer, receiver, store):
    ext = await create_extraction(client)
    cls = (await client.post("/v1/classifications", json=inbox_linking(ext["id"]))).json()
    receiver.statuses = [500]
    await create_webhook(client, receiver.url)
    await classify_one(client, worker, cls["classification"]["id"], BILL)

    assert await deliverer.drain() == 1  # file.classified fails...
    assert await deliverer.drain() == 0  # ...and file.processed waits behind it
    make_due(store)
    assert await deliverer.drain() == 2
    assert [(r.event["type"], r.status) for r in receiver.received] == [
        ("file.classified", 500),
        ("file.classified", 200),
        ("file.processed", 200),
    ]


async def test_an_override_is_an_event_saying_so(client, worker, deliverer, receiver, inbox):
    file = await classify_one(client, worker, inbox["id"], b"Invoice")
    hook = await create_webhook(client, receiver.url, ["file.classified"])
    await client.patch(
        f"/v1/classifications/{inbox['id']}/files/{file['id']}",
        json={"classified_category_id": inbox["categories"][1]["id"]},
    )
    assert await deliverer.drain() == 1
    [event] = receiver.events
    assert event["type"] == "file.classified"
    assert event["data"]["verdict_source"] == "override"
    assert event["data"]["classified_category_name"] == "Contract"
    assert event["data"]["model_verdict"]["category_name"] == "Invoice"
    assert verify(hook["secret"], receiver.received[0].headers, receiver.received[0].body)


async def test_only_subscribed_events_and_direct_extractions(
    client, worker, deliverer, receiver, inbox
):
    await create_webhook(client, receiver.url, ["file.processed"])
    await classify_one(client, worker, inbox["id"], b"Invoice")  # no extraction: no event
    ext = await create_extraction(client)
    parts = [("files", ("bill.txt", BILL, "text/plain"))]
    batch = (await client.post(f"/v1/extractions/{ext['id']}/batches", files=parts)).json()
    await worker.drain()
    assert await deliverer.drain() == 1
    [event] = receiver.events
    assert event["type"] == "file.processed"
    assert event["data"]["source"] == "direct" and event["data"]["batch_id"] == batch["batch"]["id"]
    assert event["data"]["data"]["invoice_number"] == "INV-7"


async def test_deleting_a_webhook_drops_its_pending_deliveries(
    client, worker, deliverer, receiver, inbox, store
):
    hook = await create_webhook(client, receiver.url)
    other = await create_webhook(client, receiver.url, ["file.classified"])
    await classify_one(client, worker, inbox["id"])
    await client.delete(f"/v1/webhooks/{hook['id']}")
    assert await deliverer.drain() == 1  # only the other webhook's
    assert len(await deliveries(client, other["id"])) == 1
    count = store.sync.db.execute("SELECT count(*) FROM webhook_deliveries").fetchone()[0]
    assert count == 1


async def test_no_webhook_no_event_rows(client, worker, inbox, store):
    await classify_one(client, worker, inbox["id"])
    assert store.sync.db.execute("SELECT count(*) FROM webhook_events").fetchone()[0] == 0
