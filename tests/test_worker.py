import asyncio
import json
import time

from app.errors import ModelError, ModelUnavailable
from app.verdict.classifier import REASONING_MAX

from .conftest import DEAD_OWNER, upload


def answer(category: str, confidence: float = 0.8, reasoning: str = "Because.") -> str:
    return json.dumps({"reasoning": reasoning, "category": category, "confidence": confidence})


async def only_file(client, cls_id, batch_id) -> dict:
    view = (await client.get(f"/v1/classifications/{cls_id}/batches/{batch_id}")).json()
    return view["files"][0]


async def test_a_written_confidence_is_ignored_and_reasoning_trimmed(
    client, inbox, worker, fake_model
):
    fake_model.replies = [answer("Receipt", 12.333, "  A   shop\nreceipt. " + "x" * 400)]
    batch = await upload(client, inbox["id"], {"r.txt": b"some text"})
    await worker.drain()
    file = await only_file(client, inbox["id"], batch["id"])
    assert file["classified_category_name"] == "Receipt"
    assert 0 < file["confidence"] < 1
    assert "self_reported" not in file["model_verdict"]["confidence_sources"]
    assert file["classification_reasoning"].startswith("A shop receipt. x")
    assert len(file["classification_reasoning"]) == REASONING_MAX


async def test_invalid_answers_are_retried_then_accepted(client, inbox, worker, fake_model):
    fake_model.replies = ["not json", answer("Bogus"), answer("Contract")]
    batch = await upload(client, inbox["id"], {"c.txt": b"an agreement"})
    await worker.drain()
    file = await only_file(client, inbox["id"], batch["id"])
    assert file["status"] == "processed"
    assert file["classified_category_name"] == "Contract"
    assert [c["attempt"] for c in fake_model.calls] == [0, 1, 2]


async def test_answers_invalid_every_time_fail_the_file_clearly(client, inbox, worker, fake_model):
    fake_model.replies = ["{}", answer("Bogus"), '{"reasoning": " ", "category": "Invoice"}']
    batch = await upload(client, inbox["id"], {"c.txt": b"some text"})
    await worker.drain()
    file = await only_file(client, inbox["id"], batch["id"])
    assert file["status"] == "failed"
    assert "no valid verdict in 3 tries" in file["error"]
    assert file["classified_category_id"] is None and file["verdict_source"] is None


async def test_a_model_outage_keeps_files_queued_and_resumes_by_itself(
    client, inbox, worker, fake_model
):
    up = True

    async def status():
        return {"ok": up, "host": fake_model.host, "model": fake_model.model}

    fake_model.status = status
    worker.lanes[0].outage.base_seconds = 0  # probe again at once
    fake_model.replies = [ModelUnavailable("connection refused")]
    batch = await upload(client, inbox["id"], {"a.txt": b"Invoice", "b.txt": b"Receipt"})

    up = False
    assert await worker.drain() == 1  # the run that found the server down
    files = (await client.get(f"/v1/classifications/{inbox['id']}/batches/{batch['id']}")).json()
    assert [f["status"] for f in files["files"]] == ["queued", "queued"]
    assert sorted(str(f["error"]) for f in files["files"]) == ["None", "connection refused"]
    assert await worker.drain() == 0  # nothing is claimed while the server is down
    health = (await client.get("/health")).json()
    assert health["worker"]["state"] == "waiting_for_model"
    assert health["worker"]["since"] and health["worker"]["error"] == "connection refused"

    up = True
    assert await worker.drain() == 2  # back: both run
    files = (await client.get(f"/v1/classifications/{inbox['id']}/batches/{batch['id']}")).json()
    assert [f["status"] for f in files["files"]] == ["processed", "processed"]
    assert {f["file_name"]: f["classified_category_name"] for f in files["files"]} == {
        "a.txt": "Invoice",
        "b.txt": "Receipt",
    }
    assert (await client.get("/health")).json()["worker"]["state"] == "working"


async def test_a_model_error_about_the_file_is_retried_then_fails_it(
    client, inbox, worker, fake_model, store
):
    refused = ModelError("the model server refused: input too long")
    fake_model.replies = [refused, refused, refused]
    batch = await upload(client, inbox["id"], {"c.txt": b"some text"})

    assert await worker.drain() == 1
    file = await only_file(client, inbox["id"], batch["id"])
    assert file["status"] == "queued" and "input too long" in file["error"]
    assert await worker.drain() == 0  # backing off: not runnable yet
    assert await store.next_run_after() > time.time()

    for _ in (2, 3):  # the second and third tries
        store.sync.db.execute("UPDATE files SET run_after = 0")
        assert await worker.drain() == 1
    file = await only_file(client, inbox["id"], batch["id"])
    assert file["status"] == "failed"
    assert file["attempts"] == 3
    assert "gave up after 3 tries" in file["error"]


async def test_a_run_past_the_time_limit_fails_the_file(client, inbox, worker, fake_model):
    async def hang(*args, **kwargs):
        await asyncio.sleep(10)

    fake_model.chat_json = hang
    worker.job_timeout = 0.2
    batch = await upload(client, inbox["id"], {"a.txt": b"Invoice"})
    assert await worker.drain() == 1
    file = await only_file(client, inbox["id"], batch["id"])
    assert file["status"] == "failed"
    assert "took longer than 0.2 s (DOCSORT_JOB_TIMEOUT)" in file["error"]


async def test_empty_text_is_none_without_asking_the_model(client, inbox, worker, fake_model):
    batch = await upload(client, inbox["id"], {"blank.txt": b" \n\n \t "})
    await worker.drain()
    file = await only_file(client, inbox["id"], batch["id"])
    assert file["status"] == "processed"
    assert file["classified_category_id"] is None
    assert "no readable text" in file["classification_reasoning"]
    assert fake_model.calls == []


async def test_start_requeues_files_a_dead_process_left_processing(client, inbox, worker, store):
    batch = await upload(client, inbox["id"], {"a.txt": b"Invoice", "b.txt": b"Receipt"})
    claimed = await store.claim_file(DEAD_OWNER)  # claimed by a process that then died
    assert claimed is not None
    await worker.start()
    try:
        for _ in range(100):
            view = (
                await client.get(f"/v1/classifications/{inbox['id']}/batches/{batch['id']}")
            ).json()
            if view["batch"]["status"] == "processed":
                break
            await asyncio.sleep(0.05)
    finally:
        await worker.stop()
    assert view["batch"]["status"] == "processed"
    assert [f["status"] for f in view["files"]] == ["processed", "processed"]
    # The interrupted run counts: the file went behind the other one and ran a second time.
    first, other = sorted(view["files"], key=lambda f: f["id"] != claimed["id"])
    assert (first["attempts"], other["attempts"]) == (2, 1)
    assert first["started_at"] > other["started_at"]


async def test_stop_requeues_a_file_whose_run_it_cancels(client, inbox, worker, fake_model):
    gate = asyncio.Event()

    async def hang(*args, **kwargs):
        await gate.wait()

    fake_model.chat_json = hang
    batch = await upload(client, inbox["id"], {"a.txt": b"Invoice"})
    await worker.start()
    for _ in range(100):
        if (await only_file(client, inbox["id"], batch["id"]))["status"] == "processing":
            break
        await asyncio.sleep(0.02)
    await worker.stop(grace=0.1)
    file = await only_file(client, inbox["id"], batch["id"])
    assert file["status"] == "queued"
    assert file["attempts"] == 1  # counted when claimed, never given back


async def test_a_stale_run_does_not_overwrite_a_redo(client, inbox, worker, store):
    batch = await upload(client, inbox["id"], {"a.txt": b"Invoice"})
    job = await store.claim_file(worker.owner)
    file_id = job["id"]
    await client.post(f"/v1/classifications/{inbox['id']}/files/{file_id}/redo")
    stored = await store.record_verdict(file_id, job["run_token"], None, 0.5, "late", "m")
    assert stored is False
    assert (await only_file(client, inbox["id"], batch["id"]))["status"] == "queued"
