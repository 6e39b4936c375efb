"""Learning from people: example files, confirm, labels, learned verdicts, live accuracy.

The embedding model here is a stand-in (words hashed into a vector), so these tests are
fast; test_classify_model.py teaches the real models."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Any

import numpy as np
import pytest
from litestar.testing import AsyncTestClient

from app.api import create_app
from app.errors import ModelUnavailable
from app.prompts import Prompts
from app.verdict.classifier import Classifier, Rendered
from app.verdict.examples import Example, Learned, Learner
from app.verdict.keywords import Match

from .conftest import BASE_URL, INBOX, ROOT, FakeModel, upload

DIM = 64


def words_vector(text: str) -> list[float]:
    """A bag of hashed words: documents that share words point the same way."""
    vector = np.zeros(DIM)
    for word in re.findall(r"\w+", text.lower()):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % DIM] += 1
    return list(vector / (np.linalg.norm(vector) or 1))


class LearningModel(FakeModel):
    def __init__(self) -> None:
        super().__init__()
        self.embed_model = "fake-embed"
        self.embedded: list[str] = []
        self.embed_errors: list[Exception] = []

    async def embed(self, text: str) -> list[float]:
        if self.embed_errors:
            raise self.embed_errors.pop(0)
        self.embedded.append(text)
        return words_vector(text)


@pytest.fixture
def fake_model() -> LearningModel:
    return LearningModel()


def parts(files: dict[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (name, data, "text/plain")) for name, data in files.items()]


def examples_url(cls_id: str, category_id: str) -> str:
    return f"/v1/classifications/{cls_id}/categories/{category_id}/examples"


async def give(client, worker, cls_id, category_id, files: dict[str, bytes]) -> list[dict]:
    response = await client.post(examples_url(cls_id, category_id), files=parts(files))
    assert response.status_code == 202, response.text
    await worker.drain()
    return response.json()["examples"]


async def classify(client, worker, cls_id, files: dict[str, bytes]) -> list[dict]:
    """The files' views in the order given."""
    batch = await upload(client, cls_id, files)
    await worker.drain()
    view = await client.get(f"/v1/classifications/{cls_id}/batches/{batch['id']}")
    by_name = {f["file_name"]: f for f in view.json()["files"]}
    return [by_name[name] for name in files]


INVOICES = {
    "bill-1.txt": b"Rechnung Nummer 17 Betrag faellig Zahlung Konto Summe netto brutto",
    "bill-2.txt": b"Rechnung Nummer 18 Betrag faellig Zahlung Konto Summe Steuer",
    "bill-3.txt": b"Rechnung Nummer 19 Betrag faellig Konto Summe brutto",
}
CONTRACTS = {
    "nda-1.txt": b"Vertrag zwischen Parteien Klausel Laufzeit Kuendigung Gerichtsstand",
    "nda-2.txt": b"Vertrag Parteien Klausel Haftung Laufzeit Unterschrift",
    "nda-3.txt": b"Vertrag zwischen Parteien Klausel Haftung Gerichtsstand",
}
RECEIPTS = {
    "till-1.txt": b"Kasse Bon Bar bezahlt Rueckgeld danke Einkauf",
    "till-2.txt": b"Kasse Bon Karte bezahlt danke Einkauf Filiale",
    "till-3.txt": b"Kasse Bon Bar danke Einkauf Filiale",
}


async def teach(client, worker, inbox) -> None:
    for category, files in zip(inbox["categories"], (INVOICES, CONTRACTS, RECEIPTS), strict=True):
        await give(client, worker, inbox["id"], category["id"], files)


# Example files ------------------------------------------------------------------------------


async def test_examples_are_uploaded_embedded_listed_and_deleted(client, inbox, worker, settings):
    invoice = inbox["categories"][0]
    given = await give(client, worker, inbox["id"], invoice["id"], INVOICES)
    assert [e["status"] for e in given] == ["queued"] * len(INVOICES)
    url = examples_url(inbox["id"], invoice["id"])
    listed = (await client.get(url)).json()["examples"]
    assert {e["file_name"] for e in listed} == set(INVOICES)
    assert all(e["status"] == "processed" and e["category_id"] == invoice["id"] for e in listed)
    assert all(e["document"]["type"] == "text" for e in listed)
    # Examples are not batches to classify, nor files to check.
    assert (await client.get(f"/v1/classifications/{inbox['id']}/batches")).json() == {
        "batches": []
    }
    file_url = f"/v1/classifications/{inbox['id']}/files/{listed[0]['id']}"
    assert (await client.get(file_url)).status_code == 404
    response = await client.delete(f"{url}/{listed[0]['id']}")
    assert response.status_code == 204
    left = [e["id"] for e in listed[1:]]
    assert [e["id"] for e in (await client.get(url)).json()["examples"]] == left
    stored = list(settings.uploads_dir.rglob("file_*"))
    assert sorted(p.name for p in stored) == sorted(left)
    assert (await client.delete(f"{url}/{listed[0]['id']}")).status_code == 404


async def test_example_uploads_refuse_what_batches_refuse(client, inbox, settings):
    invoice = inbox["categories"][0]
    other = (await client.post("/v1/classifications", json=INBOX)).json()["classification"]
    for url in (
        examples_url(inbox["id"], "cat_unknown"),
        examples_url(inbox["id"], other["categories"][0]["id"]),
        examples_url("cls_unknown", invoice["id"]),
    ):
        response = await client.post(url, files=parts({"a.txt": b"Rechnung"}))
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"
        assert (await client.get(url)).status_code == 404
    url = examples_url(inbox["id"], invoice["id"])
    many = {f"bill-{i}.txt": b"Rechnung" for i in range(31)}
    response = await client.post(url, files=parts(many))
    assert response.status_code == 422 and response.json()["error"]["code"] == "too_many_files"
    response = await client.post(url, json={"files": []})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert (await client.get(url)).json() == {"examples": []}
    assert not list(settings.uploads_dir.rglob("file_*"))


async def test_an_example_without_text_fails_and_teaches_nothing(client, inbox, worker):
    invoice = inbox["categories"][0]
    await give(client, worker, inbox["id"], invoice["id"], {"blank.txt": b"   \n  "})
    (example,) = (await client.get(examples_url(inbox["id"], invoice["id"]))).json()["examples"]
    assert example["status"] == "failed" and "Nothing to learn from" in example["error"]


async def test_an_example_waits_for_a_model_server_that_is_down(client, inbox, worker, fake_model):
    fake_model.embed_errors.append(ModelUnavailable("the model server failed: refused"))
    invoice = inbox["categories"][0]
    response = await client.post(
        examples_url(inbox["id"], invoice["id"]), files=parts({"bill.txt": b"Rechnung 1"})
    )
    await worker.process_one()
    (example,) = (await client.get(examples_url(inbox["id"], invoice["id"]))).json()["examples"]
    assert response.status_code == 202
    assert example["status"] == "queued" and "refused" in example["error"]


# Learned verdicts ---------------------------------------------------------------------------


def test_a_category_with_one_example_is_not_drowned_by_crowded_ones():
    """People label what comes in: 30 invoices and 30 contracts, one receipt, receipts much
    like invoices. A plain regression with an intercept calls every receipt an invoice (0 of
    20 here); weighing each category the same and fitting no intercept, the one receipt
    teaches."""
    rng = np.random.default_rng(0)
    kinds = rng.normal(size=(3, 16))
    kinds[2] = 0.8 * kinds[0] + 0.6 * kinds[2]  # a receipt reads much like an invoice

    def like(kind: int, count: int) -> list[np.ndarray]:
        return [kinds[kind] + 0.6 * rng.normal(size=16) for _ in range(count)]

    names = ["Invoice", "Contract", "Receipt", "none"]
    examples = [Example(f"i{i}", "", "Invoice", v) for i, v in enumerate(like(0, 30))]
    examples += [Example(f"c{i}", "", "Contract", v) for i, v in enumerate(like(1, 30))]
    examples.append(Example("r0", "", "Receipt", like(2, 1)[0]))
    anchors = [
        Example(n, n, n, kinds[i] + 0.9 * rng.normal(size=16)) for i, n in enumerate(names[:3])
    ]
    learner = Learner()

    def tops(kind: int) -> list[str]:
        return [learner.learn(examples, anchors, None, v, names).top()[0] for v in like(kind, 20)]

    assert tops(2).count("Receipt") >= 15
    assert tops(0).count("Invoice") == 20  # and the crowded categories keep theirs


async def test_two_examples_alone_in_a_classification_teach_a_third(
    client, inbox, worker, fake_model
):
    """Three files of one kind are all the classification has: their mean vector is mostly
    what they share, and centring on it whole would leave nothing to learn from."""
    invoice = inbox["categories"][0]
    bills = dict(list(INVOICES.items())[:2])
    await give(client, worker, inbox["id"], invoice["id"], bills)
    (file,) = await classify(client, worker, inbox["id"], {"bill-9.txt": INVOICES["bill-3.txt"]})
    probabilities = file["model_verdict"]["evidence"]["examples"]["probabilities"]
    assert max(probabilities, key=probabilities.get) == "Invoice"
    assert probabilities["Invoice"] > 0.5


def learned(probabilities: dict[str, float], counts: dict[str, int]) -> Learned:
    return Learned(probabilities, sum(counts.values()), [], counts)


def test_sure_examples_decide_alone_where_no_keyword_is_found():
    """A document that carries none of the categories' keywords: weighed, its confidence
    stays below 0.99 (the floors), yet the examples' own sureness decides; a keyword that
    pulls elsewhere still sends it to the model."""
    classifier = Classifier(FakeModel(), Prompts(ROOT / "prompts"))
    categories = [{**c, "id": f"cat_{i}"} for i, c in enumerate(INBOX["categories"])]
    sure = learned(
        {"Invoice": 0.99995, "Contract": 0.00002, "Receipt": 0.00002, "none": 0.00001},
        {"Invoice": 3, "Contract": 3, "Receipt": 3, "none": 0},
    )

    def rendered(found: list[Match]) -> Rendered:
        return Rendered("", "", found, "en", 1.0)

    verdict = classifier._from_examples(categories, rendered([]), sure)
    assert verdict is not None and verdict.source == "examples"
    assert verdict.category_id == "cat_0" and verdict.confidence < 0.99
    pulled = [Match("Contract", ("agreement", "party", "whereas"), 3)]
    assert classifier._from_examples(categories, rendered(pulled), sure) is None
    unsure = learned({**sure.probabilities, "Invoice": 0.9995, "none": 0.00046}, sure.counts)
    assert classifier._from_examples(categories, rendered([]), unsure) is None
    few = learned(sure.probabilities, {**sure.counts, "Invoice": 2})
    assert classifier._from_examples(categories, rendered([]), few) is None


async def test_sure_examples_decide_without_the_model(client, inbox, worker, fake_model):
    await teach(client, worker, inbox)
    like_the_bills = (
        b"Rechnung Nummer 20 Betrag faellig Zahlung Konto Summe netto, invoice, total due"
    )
    (file,) = await classify(client, worker, inbox["id"], {"new.txt": like_the_bills})
    assert fake_model.calls == []  # the model was never asked
    assert file["classified_category_name"] == "Invoice"
    assert file["verdict_source"] == "examples"
    assert file["classification_reasoning"].startswith("Like 3 of the 9 nearest files filed as")
    assert "bill-" in file["classification_reasoning"]
    evidence = file["model_verdict"]["evidence"]
    assert evidence["decided_by"] == "examples" and evidence["examples"]["count"] == 9
    nearest = evidence["examples"]["nearest"]
    assert nearest[0]["category"] == "Invoice" and nearest[0]["file_id"].startswith("file_")
    assert file["model_verdict"]["model"] == "fake-embed"
    assert 0.97 <= file["confidence"] <= 1


async def test_examples_not_sure_enough_are_weighed_with_the_model(settings, store):
    model = LearningModel()
    never = dataclasses.replace(settings, examples_sure=1.5)  # above 1: always ask the model
    app = create_app(never, store, model, run_worker=False)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        worker = app.state.worker
        inbox = (await client.post("/v1/classifications", json=INBOX)).json()["classification"]
        await teach(client, worker, inbox)
        (file,) = await classify(client, worker, inbox["id"], {"odd.txt": b"Invoice Rechnung"})
    assert len(model.calls) == 1
    assert file["verdict_source"] == "model"
    evidence = file["model_verdict"]["evidence"]
    assert evidence["decided_by"] == "model" and evidence["model_answer"] == "Invoice"
    assert set(evidence["examples"]["probabilities"]) == {"Invoice", "Contract", "Receipt", "none"}


async def test_each_file_is_embedded_once(client, inbox, worker, fake_model):
    """And each category's description once while the process runs."""
    (file,) = await classify(client, worker, inbox["id"], {"a.txt": b"Invoice no. 7"})
    descriptions = [f"{c['name']}: {c['description']}" for c in inbox["categories"]]
    assert sorted(fake_model.embedded) == sorted(["Invoice no. 7", *descriptions])
    await client.post(f"/v1/classifications/{inbox['id']}/files/{file['id']}/redo")
    await worker.drain()
    assert sorted(fake_model.embedded) == sorted(["Invoice no. 7", *descriptions])


def test_with_no_examples_the_descriptions_are_weighed_and_none_beside_them():
    rng = np.random.default_rng(1)
    names = ["Invoice", "Contract", "Receipt", "none"]
    kinds = rng.normal(size=(3, 16))
    anchors = [Example(n, n, n, kinds[i]) for i, n in enumerate(names[:3])]
    learner = Learner()
    like_a_contract = learner.learn([], anchors, None, kinds[1] + 0.3 * rng.normal(size=16), names)
    assert like_a_contract is not None and like_a_contract.top()[0] == "Contract"
    assert like_a_contract.examples == 0 and like_a_contract.nearest == []
    other = rng.normal(size=16)
    other -= kinds.T @ np.linalg.lstsq(kinds.T, other, rcond=None)[0]  # unlike them all
    unlike = learner.learn([], anchors, None, other, names)
    assert unlike is not None and unlike.top()[0] == "none"
    assert learner.learn([], anchors[:1], None, kinds[0], names) is None  # one name alone


async def test_checks_are_labels_and_a_redo_takes_the_label_back(client, inbox, worker, store):
    invoice, contract, _ = inbox["categories"]
    files = await classify(
        client, worker, inbox["id"], {"a.txt": b"Invoice no. 7", "b.txt": b"Contract terms"}
    )
    base = f"/v1/classifications/{inbox['id']}/files"
    confirmed = (await client.post(f"{base}/{files[0]['id']}/confirm")).json()["file"]
    assert confirmed["checked_at"] and confirmed["verdict_source"] == "model"
    await client.patch(f"{base}/{files[1]['id']}", json={"classified_category_id": invoice["id"]})

    async def labels() -> dict[str, Any]:
        rows = await store.labelled_vectors(inbox["id"], "fake-embed")
        return {r["id"]: r["label_id"] for r in rows}

    assert await labels() == {files[0]["id"]: invoice["id"], files[1]["id"]: invoice["id"]}
    await client.patch(f"{base}/{files[1]['id']}", json={"classified_category_id": contract["id"]})
    assert (await labels())[files[1]["id"]] == contract["id"]  # a changed override relabels
    await client.patch(f"{base}/{files[1]['id']}", json={"classified_category_id": None})
    assert (await labels())[files[1]["id"]] is None  # none is a label too
    await client.post(f"{base}/{files[0]['id']}/redo")
    assert files[0]["id"] not in await labels()
    redone = (await client.get(f"{base}/{files[0]['id']}")).json()["file"]
    assert redone["checked_at"] is None


async def test_a_removed_category_stops_teaching(client, inbox, worker, store):
    await teach(client, worker, inbox)
    assert len(await store.labelled_vectors(inbox["id"], "fake-embed")) == 9
    kept = [c for c in inbox["categories"] if c["name"] != "Receipt"]
    response = await client.patch(f"/v1/classifications/{inbox['id']}", json={"categories": kept})
    assert response.status_code == 200
    rows = await store.labelled_vectors(inbox["id"], "fake-embed")
    assert {r["file_name"] for r in rows} == set(INVOICES) | set(CONTRACTS)


async def test_confirm_needs_a_verdict(client, inbox, worker, fake_model):
    base = f"/v1/classifications/{inbox['id']}/files"
    batch = await upload(client, inbox["id"], {"a.txt": b"Invoice"})
    view = await client.get(f"/v1/classifications/{inbox['id']}/batches/{batch['id']}")
    queued = view.json()["files"][0]
    response = await client.post(f"{base}/{queued['id']}/confirm")
    assert response.status_code == 409 and response.json()["error"]["code"] == "no_verdict"
    fake_model.replies = ["not json"] * 3
    await worker.drain()
    response = await client.post(f"{base}/{queued['id']}/confirm")
    assert response.status_code == 409 and "failed" in response.json()["error"]["message"]
    assert (await client.post(f"{base}/file_unknown/confirm")).status_code == 404
    assert (await client.get(f"{base}/{queued['id']}")).json()["file"]["checked_at"] is None


# Live accuracy ------------------------------------------------------------------------------


async def test_live_accuracy_counts_each_files_latest_check(client, inbox, worker):
    invoice, contract, receipt = inbox["categories"]
    files = await classify(
        client,
        worker,
        inbox["id"],
        {
            "a.txt": b"Invoice 1",
            "b.txt": b"Invoice 2",
            "c.txt": b"Contract agreement",
            "d.txt": b"x",
        },
    )
    base = f"/v1/classifications/{inbox['id']}/files"
    await client.post(f"{base}/{files[0]['id']}/confirm")
    await client.patch(f"{base}/{files[1]['id']}", json={"classified_category_id": receipt["id"]})
    await client.patch(f"{base}/{files[1]['id']}", json={"classified_category_id": contract["id"]})
    await client.post(f"{base}/{files[2]['id']}/confirm")
    response = await client.get(f"/v1/classifications/{inbox['id']}/accuracy")
    assert response.status_code == 200
    accuracy = response.json()["accuracy"]
    assert accuracy["all"]["checked"] == 3 and accuracy["all"]["right"] == 2
    assert accuracy["all"]["accuracy"] == pytest.approx(2 / 3, abs=1e-3)
    per = {c["category"]: c for c in accuracy["all"]["per_category"]}
    assert per["Contract"] == {"category": "Contract", "checked": 2, "right": 1, "accuracy": 0.5}
    assert per["Invoice"]["right"] == 1
    assert accuracy["most_confused"] == [{"expected": "Contract", "got": "Invoice", "count": 1}]
    assert accuracy["recent"]["last"] == 50 and accuracy["recent"]["checked"] == 3
    assert accuracy["from_examples"] == 0
    assert accuracy["all"]["by_source"] == {"model": {"checked": 3, "right": 2, "accuracy": 0.6667}}
    missing = await client.get("/v1/classifications/cls_unknown/accuracy")
    assert missing.status_code == 404


async def test_no_embedding_model_learns_nothing(settings, store):
    model = FakeModel()  # embed_model ""
    app = create_app(settings, store, model, run_worker=False)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        inbox = (await client.post("/v1/classifications", json=INBOX)).json()["classification"]
        category = inbox["categories"][0]
        response = await client.post(
            examples_url(inbox["id"], category["id"]), files=parts({"a.txt": b"Rechnung"})
        )
        assert response.status_code == 202
        await app.state.worker.drain()
        (example,) = (await client.get(examples_url(inbox["id"], category["id"]))).json()[
            "examples"
        ]
        assert example["status"] == "failed" and "DOCSORT_EMBED_MODEL" in example["error"]
