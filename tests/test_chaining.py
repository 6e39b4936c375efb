"""Classification -> extraction chaining: a file classified into a linked category is
extracted too, as the same file; the extraction follows the file's verdict."""

from __future__ import annotations

import copy
import hashlib
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pymupdf
import pytest
from litestar.testing import AsyncTestClient

from app import reading
from app import worker as worker_module
from app.api import create_app
from app.model import ModelClient
from app.webhooks import verify

from .conftest import BASE_URL, INBOX, upload
from .documents import INVOICE, READ_BEFORE, ledger_bytes, pdf_bytes, report_pdf_bytes
from .test_extractions import create_extraction
from .test_extractions import upload as upload_to_extraction
from .test_learning import examples_url

BILL = b"Invoice\ninvoice_number: INV-7\ntotal: 960.00\nissue_date: 2026-03-14\n"
BOTH_EVENTS = ["file.classified", "file.processed"]
E2E_FIELDS = {
    "name": "Invoice fields",
    "fields": [
        {"name": "invoice_number", "type": "string", "required": True},
        {"name": "total", "type": "number", "description": "The total due", "required": True},
        {"name": "issue_date", "type": "date", "description": "The invoice date"},
        {"name": "vendor_name", "type": "string", "description": "Who sent the invoice"},
        {"name": "purchase_order_number", "type": "string"},
    ],
}


def inbox_linking(ext_id: str | None, receipt_ext_id: str | None = None) -> dict:
    body = copy.deepcopy(INBOX)
    body["categories"][0]["linked_extraction_id"] = ext_id
    body["categories"][2]["linked_extraction_id"] = receipt_ext_id
    return body


@pytest.fixture
async def invoice_ext(client) -> dict:
    return await create_extraction(client)


@pytest.fixture
async def linked(client, invoice_ext) -> dict:
    response = await client.post("/v1/classifications", json=inbox_linking(invoice_ext["id"]))
    assert response.status_code == 201, response.text
    return response.json()["classification"]


async def batch_of(client, cls_id: str, batch_id: str) -> dict:
    return (await client.get(f"/v1/classifications/{cls_id}/batches/{batch_id}")).json()


async def file_of(client, cls_id: str, file_id: str) -> dict:
    return (await client.get(f"/v1/classifications/{cls_id}/files/{file_id}")).json()["file"]


async def classify(client, cls_id: str, files: dict[str, bytes]) -> dict:
    batch = await upload(client, cls_id, files)
    return await batch_of(client, cls_id, batch["id"])


async def test_a_link_to_a_missing_extraction_is_422(client, invoice_ext):
    response = await client.post("/v1/classifications", json=inbox_linking("ext_missing"))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_extraction"
    assert "ext_missing" in response.json()["error"]["message"]
    assert (await client.get("/v1/classifications")).json() == {"classifications": []}

    created = await client.post("/v1/classifications", json=inbox_linking(None))
    cls = created.json()["classification"]
    categories = copy.deepcopy(cls["categories"])
    categories[1]["linked_extraction_id"] = "ext_missing"
    response = await client.patch(
        f"/v1/classifications/{cls['id']}", json={"categories": categories}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_extraction"
    shown = (await client.get(f"/v1/classifications/{cls['id']}")).json()["classification"]
    assert shown == cls

    categories[1]["linked_extraction_id"] = invoice_ext["id"]
    response = await client.patch(
        f"/v1/classifications/{cls['id']}", json={"categories": categories}
    )
    assert response.status_code == 200
    assert (
        response.json()["classification"]["categories"][1]["linked_extraction_id"]
        == (invoice_ext["id"])
    )


async def test_a_file_in_a_linked_category_is_extracted_as_the_same_file(
    client, worker, linked, invoice_ext, settings
):
    view = await classify(client, linked["id"], {"bill.txt": BILL, "nda.txt": b"Contract"})
    bill_id = next(f["id"] for f in view["files"] if f["file_name"] == "bill.txt")
    while (await file_of(client, linked["id"], bill_id))["status"] != "processed":
        assert await worker.process_one()
    bill = await file_of(client, linked["id"], bill_id)
    assert bill["classified_category_name"] == "Invoice"
    assert bill["extraction"]["extraction_id"] == invoice_ext["id"]
    assert bill["extraction"]["status"] == "queued" and bill["extraction"]["data"] is None
    # Classified, but not processed: the chained extraction is still to do.
    view = await batch_of(client, linked["id"], view["batch"]["id"])
    assert view["batch"]["status"] == "processing" and view["batch"]["finished_at"] is None
    assert view["batch"]["extraction_count"] == 1 and view["batch"]["extracted_count"] == 0

    assert await worker.drain() >= 1
    view = await batch_of(client, linked["id"], view["batch"]["id"])
    assert view["batch"]["status"] == "processed" and view["batch"]["finished_at"]
    assert view["batch"]["extracted_count"] == 1 and view["batch"]["processed_count"] == 2
    assert next(f for f in view["files"] if f["file_name"] == "nda.txt")["extraction"] is None
    bill = next(f for f in view["files"] if f["file_name"] == "bill.txt")
    extraction = bill["extraction"]
    assert extraction["status"] == "processed"
    assert extraction["data"]["invoice_number"] == "INV-7"
    assert extraction["data"]["total"] == 960.0
    assert extraction["missing_required"] == []
    assert view["batch"]["finished_at"] >= extraction["finished_at"]
    assert await file_of(client, linked["id"], bill["id"]) == bill

    # The extraction shows the same file, no second upload.
    shown = await client.get(f"/v1/extractions/{invoice_ext['id']}/files/{bill['id']}")
    chained = shown.json()["file"]
    assert chained["source"] == "chained" and chained["batch_id"] is None
    assert chained["classification_id"] == linked["id"]
    assert chained["classification_batch_id"] == view["batch"]["id"]
    assert chained["category_id"] == linked["categories"][0]["id"]
    assert chained["data"] == extraction["data"]
    assert len(list((settings.uploads_dir).rglob(bill["id"]))) == 1


async def test_an_override_into_a_linked_category_queues_the_extraction(
    client, worker, linked, invoice_ext
):
    view = await classify(client, linked["id"], {"r.txt": b"Receipt\ninvoice_number: R-1"})
    await worker.drain()
    file_id = view["files"][0]["id"]
    assert (await file_of(client, linked["id"], file_id))["extraction"] is None

    invoice = linked["categories"][0]
    response = await client.patch(
        f"/v1/classifications/{linked['id']}/files/{file_id}",
        json={"classified_category_id": invoice["id"]},
    )
    assert response.json()["file"]["extraction"]["status"] == "queued"
    batch = await batch_of(client, linked["id"], view["batch"]["id"])
    assert batch["batch"]["status"] == "processing"

    assert await worker.drain() == 1
    file = await file_of(client, linked["id"], file_id)
    assert file["verdict_source"] == "override"
    assert file["extraction"]["status"] == "processed"
    assert file["extraction"]["data"]["invoice_number"] == "R-1"
    assert (await batch_of(client, linked["id"], view["batch"]["id"]))["batch"]["status"] == (
        "processed"
    )


async def test_an_override_away_from_a_linked_category_removes_the_result(
    client, worker, linked, invoice_ext
):
    view = await classify(client, linked["id"], {"bill.txt": BILL})
    await worker.drain()
    file_id = view["files"][0]["id"]
    assert (await file_of(client, linked["id"], file_id))["extraction"]["status"] == "processed"

    url = f"/v1/classifications/{linked['id']}/files/{file_id}"
    for category_id in [linked["categories"][1]["id"], None]:  # unlinked, then none
        response = await client.patch(url, json={"classified_category_id": category_id})
        assert response.status_code == 200
        assert response.json()["file"]["extraction"] is None
        shown = await client.get(f"/v1/extractions/{invoice_ext['id']}/files/{file_id}")
        assert shown.status_code == 404
    assert await worker.drain() == 0

    # And back again: a fresh extraction, queued.
    await client.patch(url, json={"classified_category_id": linked["categories"][0]["id"]})
    assert (await file_of(client, linked["id"], file_id))["extraction"]["status"] == "queued"
    assert await worker.drain() == 1
    assert (await file_of(client, linked["id"], file_id))["extraction"]["data"]["total"] == 960.0


async def test_an_override_to_another_extraction_replaces_the_result(client, worker, invoice_ext):
    receipt_ext = await create_extraction(
        client, {"name": "Receipt", "fields": [{"name": "total", "type": "number"}]}
    )
    cls = (
        await client.post(
            "/v1/classifications", json=inbox_linking(invoice_ext["id"], receipt_ext["id"])
        )
    ).json()["classification"]
    view = await classify(client, cls["id"], {"bill.txt": BILL})
    await worker.drain()
    file_id = view["files"][0]["id"]
    await client.patch(
        f"/v1/classifications/{cls['id']}/files/{file_id}",
        json={"classified_category_id": cls["categories"][2]["id"]},
    )
    file = await file_of(client, cls["id"], file_id)
    assert file["extraction"]["extraction_id"] == receipt_ext["id"]
    assert file["extraction"]["status"] == "queued" and file["extraction"]["data"] is None
    await worker.drain()
    file = await file_of(client, cls["id"], file_id)
    assert file["extraction"]["data"] == {"total": 960.0}


async def test_an_override_that_keeps_the_extraction_keeps_its_result(
    client, worker, linked, invoice_ext, fake_model
):
    view = await classify(client, linked["id"], {"bill.txt": BILL})
    await worker.drain()
    file_id = view["files"][0]["id"]
    before = (await file_of(client, linked["id"], file_id))["extraction"]
    calls = len(fake_model.calls)
    await client.patch(
        f"/v1/classifications/{linked['id']}/files/{file_id}",
        json={"classified_category_id": linked["categories"][0]["id"]},
    )
    assert await worker.drain() == 0 and len(fake_model.calls) == calls
    assert (await file_of(client, linked["id"], file_id))["extraction"] == before


async def test_a_stale_extraction_run_does_not_come_back(client, worker, linked, store):
    view = await classify(client, linked["id"], {"bill.txt": BILL})
    assert await worker.process_one()  # classified; the extraction is queued
    job = await store.claim_extraction(worker.owner)  # a run starts...
    file_id = view["files"][0]["id"]
    await client.patch(  # ...the user moves the file away...
        f"/v1/classifications/{linked['id']}/files/{file_id}",
        json={"classified_category_id": None},
    )
    stored = await store.record_extraction(file_id, job["run_token"], {"total": 1.0}, [], "m")
    assert stored is False  # ...and the run's result is dropped
    assert (await file_of(client, linked["id"], file_id))["extraction"] is None


async def test_a_redo_clears_the_extraction_until_the_new_verdict(
    client, worker, linked, fake_model
):
    view = await classify(client, linked["id"], {"bill.txt": BILL})
    await worker.drain()
    file_id = view["files"][0]["id"]
    url = f"/v1/classifications/{linked['id']}/files/{file_id}"
    response = await client.post(f"{url}/redo")
    assert response.json()["file"]["extraction"] is None

    assert await worker.process_one()  # the new verdict: Invoice again, extraction queued
    file = await file_of(client, linked["id"], file_id)
    assert file["extraction"]["status"] == "queued" and file["extraction"]["data"] is None
    assert await worker.drain() == 1
    assert (await file_of(client, linked["id"], file_id))["extraction"]["status"] == "processed"

    # A redo whose new verdict is not linked leaves no extraction behind (Receipt has no
    # keywords, so the one Invoice keyword in the bill does not outweigh the model).
    fake_model.replies = ['{"reasoning": "A receipt.", "category": "Receipt", "confidence": 1}']
    await client.post(f"{url}/redo")
    await worker.drain()
    file = await file_of(client, linked["id"], file_id)
    assert file["classified_category_name"] == "Receipt" and file["extraction"] is None


async def test_a_changed_link_applies_to_the_next_verdicts_only(
    client, worker, linked, invoice_ext
):
    view = await classify(client, linked["id"], {"bill.txt": BILL})
    await worker.drain()
    categories = copy.deepcopy(linked["categories"])
    categories[0]["linked_extraction_id"] = None
    await client.patch(f"/v1/classifications/{linked['id']}", json={"categories": categories})
    file = await file_of(client, linked["id"], view["files"][0]["id"])
    assert file["extraction"]["status"] == "processed"  # made with the link it had
    later = await classify(client, linked["id"], {"bill2.txt": BILL})
    await worker.drain()
    assert (await file_of(client, linked["id"], later["files"][0]["id"]))["extraction"] is None


async def test_a_failed_chained_extraction_shows_its_error_and_finishes_the_batch(
    client, worker, linked, fake_model
):
    view = await classify(client, linked["id"], {"bill.txt": BILL})
    assert await worker.process_one()
    fake_model.replies = ["nope", "nope", "nope"]
    await worker.drain()
    view = await batch_of(client, linked["id"], view["batch"]["id"])
    assert view["batch"]["status"] == "processed"
    assert view["batch"]["extraction_failed_count"] == 1
    extraction = view["files"][0]["extraction"]
    assert extraction["status"] == "failed" and "no valid answer" in extraction["error"]


# A chained file is read once: the text its extraction reads is kept by its verdict's run ----


def long_bill() -> bytes:
    """Four pages: the total heads the second, so only the extraction's budget (1,000
    tokens) reaches it; the verdict's (500) reads the first page and the end of the last."""
    filler = [
        f"Line {n}: delivery notes for the order, nothing to extract here." for n in range(30)
    ]
    pages = [
        "Invoice\ninvoice_number: INV-7\n" + "\n".join(filler),
        "total: 960.00\n" + "\n".join(filler),
    ]
    doc = pymupdf.open()
    for text in [*pages, "\n".join(filler), "\n".join(filler)]:
        doc.new_page().insert_textbox(pymupdf.Rect(50, 50, 545, 800), text, fontsize=9)
    data = doc.tobytes()
    doc.close()
    return data


@pytest.fixture
def reads(monkeypatch) -> list[tuple[str, list[int]]]:
    """Each read of a file the worker makes: the file's id and the budgets read."""
    made: list[tuple[str, list[int]]] = []

    def read_documents(path: Path, budgets: list[int]) -> Any:
        made.append((path.name, list(budgets)))
        return reading.read_documents(path, budgets)

    def read_document(path: Path, budget: int) -> Any:
        made.append((path.name, [budget]))
        return reading.read_document(path, budget)

    monkeypatch.setattr(worker_module, "read_documents", read_documents)
    monkeypatch.setattr(worker_module, "read_document", read_document)
    return made


def texts_given(monkeypatch, obj: Any, name: str) -> list[str]:
    """The texts `obj.name(first, text, ...)` is awaited with from now on."""
    seen: list[str] = []
    real = getattr(obj, name)

    async def call(first: Any, text: str, *rest: Any) -> Any:
        seen.append(text)
        return await real(first, text, *rest)

    monkeypatch.setattr(obj, name, call)
    return seen


def read_steps(worker, file_id: str) -> dict[str, int]:
    """How often each job of the file read it, by the worker's always-on trace."""
    return {t.kind: t.runs.get("read", 0) for t in worker.traces.done if t.job_id == file_id}


async def test_a_chained_pdf_is_read_once_for_its_verdict_and_its_extraction(
    client, worker, linked, settings, reads, monkeypatch
):
    lane = worker.lanes[0]
    classified = texts_given(monkeypatch, lane.classifier, "classify")
    extracted = texts_given(monkeypatch, lane.extractor, "extract")
    view = await classify(client, linked["id"], {"bill.pdf": long_bill()})
    file_id = view["files"][0]["id"]

    assert await worker.drain() == 2  # the verdict, then the extraction
    file = await file_of(client, linked["id"], file_id)
    assert file["classified_category_name"] == "Invoice"
    assert file["extraction"]["status"] == "processed"
    assert reads == [(file_id, [settings.read_tokens, settings.extract_tokens])]
    assert read_steps(worker, file_id) == {"files": 1, "extraction_jobs": 0}
    path = settings.uploads_dir / view["batch"]["id"] / file_id
    # Each got the text of its own budget, as a read for it alone gives it.
    assert classified == [reading.read_document(path, settings.read_tokens).text]
    assert extracted == [reading.read_document(path, settings.extract_tokens).text]
    assert "total: 960.00" not in classified[0]
    assert file["extraction"]["data"]["invoice_number"] == "INV-7"
    assert file["extraction"]["data"]["total"] == 960.0  # on page 2: the extraction's budget


async def test_the_classifier_reads_a_chaining_file_as_it_did_before(
    client, worker, linked, store, reads, monkeypatch
):
    classified = texts_given(monkeypatch, worker.lanes[0].classifier, "classify")
    files = {"report.pdf": report_pdf_bytes(), "ledger.txt": ledger_bytes()}
    view = await classify(client, linked["id"], files)
    await worker.drain()

    assert len(reads) == 2 and all(budgets == [500, 1000] for _, budgets in reads)
    read = {hashlib.sha256(text.encode()).hexdigest() for text in classified}
    assert read == {READ_BEFORE[name][500] for name in files}  # byte for byte as before
    for file in view["files"]:
        kept = await store.extraction_text(file["id"], 1000)
        assert hashlib.sha256(kept.encode()).hexdigest() == READ_BEFORE[file["file_name"]][1000]


async def test_a_file_of_a_classification_without_links_is_read_for_its_verdict_only(
    client, inbox, worker, store, reads
):
    view = await classify(client, inbox["id"], {"bill.txt": BILL})
    await worker.drain()
    file_id = view["files"][0]["id"]
    assert reads == [(file_id, [500])]
    assert await store.extraction_text(file_id, 1000) is None


async def test_an_extraction_without_a_kept_text_reads_the_file(
    client, worker, linked, invoice_ext, store, reads
):
    view = await classify(client, linked["id"], {"bill.txt": BILL})
    file_id = view["files"][0]["id"]
    assert await worker.process_one()  # classified; the extraction is queued
    # As for a file classified before texts were kept.
    store.sync.db.execute("DELETE FROM extraction_texts WHERE file_id = ?", [file_id])

    assert await worker.drain() == 1
    assert reads == [(file_id, [500, 1000]), (file_id, [1000])]
    assert read_steps(worker, file_id) == {"files": 1, "extraction_jobs": 1}
    extraction = (await file_of(client, linked["id"], file_id))["extraction"]
    assert extraction["data"]["invoice_number"] == "INV-7"

    # A direct upload has no verdict's read to take the text from.
    batch = await upload_to_extraction(client, invoice_ext["id"], {"bill.txt": BILL})
    assert await worker.drain() == 1
    direct = (await store.extraction_batch_files(batch["id"]))[0]
    assert reads[-1] == (direct["file_id"], [1000])
    assert read_steps(worker, direct["file_id"]) == {"extraction_jobs": 1}
    assert direct["status"] == "processed"


async def test_an_extraction_run_again_reads_the_kept_text(
    client, worker, linked, fake_model, reads
):
    view = await classify(client, linked["id"], {"bill.txt": BILL})
    file_id = view["files"][0]["id"]
    assert await worker.process_one()
    fake_model.replies = ["nope", "nope", "nope"]
    await worker.drain()
    assert (await file_of(client, linked["id"], file_id))["extraction"]["status"] == "failed"

    url = f"/v1/classifications/{linked['id']}/batches/{view['batch']['id']}/redo"
    assert (await client.post(url)).json()["requeued"] == 1
    assert await worker.drain() == 1
    assert (await file_of(client, linked["id"], file_id))["extraction"]["status"] == "processed"
    assert reads == [(file_id, [500, 1000])]  # the verdict's read, and no other


async def test_a_redo_replaces_the_kept_text_and_a_stale_run_keeps_none(
    client, worker, linked, store, settings
):
    view = await classify(client, linked["id"], {"bill.txt": BILL})
    file_id = view["files"][0]["id"]
    await worker.drain()
    store.sync.db.execute("UPDATE extraction_texts SET text = 'old' WHERE file_id = ?", [file_id])

    await client.post(f"/v1/classifications/{linked['id']}/files/{file_id}/redo")
    assert await store.extraction_text(file_id, 1000) is None  # gone with the verdict
    assert await worker.process_one()
    path = settings.uploads_dir / view["batch"]["id"] / file_id
    fresh = reading.read_document(path, settings.extract_tokens).text
    assert await store.extraction_text(file_id, 1000) == fresh
    assert await store.extraction_text(file_id, 999) is None  # cut to another budget: read

    await client.post(f"/v1/classifications/{linked['id']}/files/{file_id}/redo")
    job = await store.claim_file(worker.owner)
    await client.post(f"/v1/classifications/{linked['id']}/files/{file_id}/redo")
    assert await store.record_extraction_text(file_id, job["run_token"], 1000, "late") is False
    assert await store.extraction_text(file_id, 1000) is None


async def test_a_deleted_example_takes_its_kept_text_with_it(client, inbox, store):
    category = inbox["categories"][0]
    url = examples_url(inbox["id"], category["id"])
    parts = [("files", ("bill.txt", BILL, "text/plain"))]
    assert (await client.post(url, files=parts)).status_code == 202
    job = await store.claim_file("someone")
    assert await store.record_extraction_text(job["id"], job["run_token"], 1000, "kept")

    assert (await client.delete(f"{url}/{job['id']}")).status_code == 204
    rows = store.sync.db.execute("SELECT count(*) FROM extraction_texts").fetchone()[0]
    assert rows == 0


def seconds(start: str, end: str) -> float:
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 1)


@pytest.mark.model
async def test_real_model_invoice_pdf_is_classified_extracted_and_announced(
    settings, store, classify_server, receiver
):
    """End to end through the real bundled model server: a generated invoice PDF, uploaded to
    a classification whose Invoice category links an extraction, comes back as an Invoice
    with the number and total it holds; a local receiver gets both events, signed."""
    model = ModelClient(classify_server.url, classify_server.model)
    app = create_app(settings, store, model, run_worker=False)
    async with AsyncTestClient(app=app, base_url=BASE_URL, timeout=120) as client:
        ext = await create_extraction(client, E2E_FIELDS)
        cls = (await client.post("/v1/classifications", json=inbox_linking(ext["id"]))).json()
        cls = cls["classification"]
        hook = (
            await client.post("/v1/webhooks", json={"url": receiver.url, "events": BOTH_EVENTS})
        ).json()["webhook"]
        batch = await upload(client, cls["id"], {"ACME-bill.pdf": pdf_bytes(INVOICE)})

        started = time.monotonic()
        assert await app.state.worker.drain() == 2  # the verdict, then the extraction
        took = time.monotonic() - started
        view = await batch_of(client, cls["id"], batch["id"])
        assert await app.state.deliverer.drain() == 2

    file = view["files"][0]
    steps = {"classify": file, "extract": file["extraction"]}
    spans = {k: seconds(v["started_at"], v["finished_at"]) for k, v in steps.items()}
    print(f"\nclassified and extracted in {took:.1f} s {spans}: {file['extraction']['data']}")
    assert view["batch"]["status"] == "processed"
    assert file["classified_category_name"] == "Invoice", file["classification_reasoning"]
    extraction = file["extraction"]
    assert extraction["status"] == "processed", extraction["error"]
    assert extraction["data"]["invoice_number"] == "INV-2026-0042"
    assert extraction["data"]["total"] == 960.0
    assert extraction["model"] == classify_server.model

    assert [e["type"] for e in receiver.events] == BOTH_EVENTS
    assert all(verify(hook["secret"], r.headers, r.body) for r in receiver.received)
    classified, processed = receiver.events
    assert classified["data"]["id"] == processed["data"]["id"] == file["id"]
    assert classified["data"]["verdict_source"] == "model"
    assert processed["data"]["extraction"]["data"] == extraction["data"]
