from app.jobs import FILES

from .conftest import DEAD_OWNER, INBOX, upload


async def classify_one(client, worker, cls_id, text: bytes) -> dict:
    batch = await upload(client, cls_id, {"doc.txt": text})
    await worker.drain()
    view = (await client.get(f"/v1/classifications/{cls_id}/batches/{batch['id']}")).json()
    return view["files"][0]


async def get_file(client, cls_id, file_id) -> dict:
    response = await client.get(f"/v1/classifications/{cls_id}/files/{file_id}")
    assert response.status_code == 200
    return response.json()["file"]


async def test_get_file_shows_the_model_verdict(client, inbox, worker):
    file = await classify_one(
        client, worker, inbox["id"], b"Contract: an agreement between two parties"
    )
    shown = await get_file(client, inbox["id"], file["id"])
    assert shown == file
    assert shown["status"] == "processed"
    assert shown["classified_category_name"] == "Contract"
    assert shown["verdict_source"] == "model"
    assert 0 <= shown["confidence"] <= 1 and shown["classification_reasoning"]


async def test_file_of_another_classification_is_404(client, inbox, worker):
    file = await classify_one(client, worker, inbox["id"], b"Receipt")
    other = (await client.post("/v1/classifications", json=INBOX)).json()["classification"]
    response = await client.get(f"/v1/classifications/{other['id']}/files/{file['id']}")
    assert response.status_code == 404


async def test_override_keeps_the_model_verdict_and_sticks_through_reprocessing(
    client, inbox, worker, store
):
    file = await classify_one(client, worker, inbox["id"], b"Invoice no. 7")
    receipt = inbox["categories"][2]
    response = await client.patch(
        f"/v1/classifications/{inbox['id']}/files/{file['id']}",
        json={"classified_category_id": receipt["id"]},
    )
    assert response.status_code == 200
    overridden = response.json()["file"]
    assert overridden["classified_category_id"] == receipt["id"]
    assert overridden["classified_category_name"] == "Receipt"
    assert overridden["verdict_source"] == "override"
    assert overridden["overridden_at"]
    assert overridden["model_verdict"]["category_name"] == "Invoice"

    # The batch is processed again, as after a crash: the model's verdict is refreshed,
    # the override stays the verdict.
    store.sync.db.execute("UPDATE files SET status = 'processing', owner = ?", [DEAD_OWNER])
    await store.sweep(FILES, 0, {DEAD_OWNER}, 3)
    assert await worker.drain() == 1
    again = await get_file(client, inbox["id"], file["id"])
    assert again["status"] == "processed"
    assert again["classified_category_name"] == "Receipt"
    assert again["verdict_source"] == "override"
    assert again["model_verdict"]["category_name"] == "Invoice"


async def test_override_to_none(client, inbox, worker):
    file = await classify_one(client, worker, inbox["id"], b"Invoice no. 7")
    response = await client.patch(
        f"/v1/classifications/{inbox['id']}/files/{file['id']}",
        json={"classified_category_id": None},
    )
    assert response.status_code == 200
    shown = response.json()["file"]
    assert shown["classified_category_id"] is None
    assert shown["verdict_source"] == "override"


async def test_override_before_the_model_runs_survives_the_run(client, inbox, worker):
    batch = await upload(client, inbox["id"], {"doc.txt": b"Invoice no. 7"})
    view = (await client.get(f"/v1/classifications/{inbox['id']}/batches/{batch['id']}")).json()
    file_id = view["files"][0]["id"]
    contract = inbox["categories"][1]
    await client.patch(
        f"/v1/classifications/{inbox['id']}/files/{file_id}",
        json={"classified_category_id": contract["id"]},
    )
    await worker.drain()
    shown = await get_file(client, inbox["id"], file_id)
    assert shown["classified_category_name"] == "Contract"
    assert shown["model_verdict"]["category_name"] == "Invoice"


async def test_override_rejects_unknown_and_foreign_categories(client, inbox, worker):
    file = await classify_one(client, worker, inbox["id"], b"Invoice no. 7")
    other = (await client.post("/v1/classifications", json=INBOX)).json()["classification"]
    url = f"/v1/classifications/{inbox['id']}/files/{file['id']}"
    for bad in ["cat_unknown", other["categories"][0]["id"]]:
        response = await client.patch(url, json={"classified_category_id": bad})
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "unknown_category"
    for body in [{}, {"classified_category_id": 3}, {"category": None}]:
        response = await client.patch(url, json=body)
        assert response.status_code == 422
    assert (await get_file(client, inbox["id"], file["id"]))["verdict_source"] == "model"


async def test_a_verdict_shows_what_it_weighed(client, inbox, worker):
    file = await classify_one(client, worker, inbox["id"], b"Invoice no. 7, total due")
    assert file["model_verdict"]["evidence"] == {
        "decided_by": "model",
        "examples": None,
        "model_answer": "Invoice",
        "model_probabilities": {"Invoice": 1.0},
        "keywords_found": {"Invoice": ["invoice", "total due"]},
        "language": "en",
        "familiarity": 1.0,
    }


async def test_redo_replaces_an_override_with_a_fresh_run(client, inbox, worker, fake_model):
    file = await classify_one(client, worker, inbox["id"], b"Invoice no. 7")
    url = f"/v1/classifications/{inbox['id']}/files/{file['id']}"
    await client.patch(url, json={"classified_category_id": None})
    calls = len(fake_model.calls)

    response = await client.post(f"{url}/redo")
    assert response.status_code == 202
    queued = response.json()["file"]
    assert queued["status"] == "queued"
    assert queued["verdict_source"] is None and queued["classified_category_id"] is None
    assert queued["model_verdict"] is None

    assert await worker.drain() == 1
    redone = await get_file(client, inbox["id"], file["id"])
    assert len(fake_model.calls) == calls + 1
    assert redone["verdict_source"] == "model"
    assert redone["classified_category_name"] == "Invoice"


async def test_redo_uses_the_current_category_definitions(client, inbox, worker, fake_model):
    file = await classify_one(client, worker, inbox["id"], b"Invoice no. 7")
    categories = [{**c} for c in inbox["categories"]]
    categories[0]["description"] = "Bills from suppliers, edited"
    await client.patch(f"/v1/classifications/{inbox['id']}", json={"categories": categories})
    await client.post(f"/v1/classifications/{inbox['id']}/files/{file['id']}/redo")
    await worker.drain()
    assert "Bills from suppliers, edited" in fake_model.calls[-1]["system"]


async def test_redo_of_unknown_file_is_404(client, inbox):
    response = await client.post(f"/v1/classifications/{inbox['id']}/files/file_nope/redo")
    assert response.status_code == 404
