"""End to end through the real bundled model server: generated documents, real verdicts."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient

from app.api import create_app
from app.model import ModelClient
from app.modelserver.embedder import EMBED_MODELS

from .conftest import BASE_URL, INBOX, ROOT, upload
from .documents import (
    BILL,
    CONTRACT,
    INJECTED,
    INVOICE,
    NDA,
    RECEIPT,
    SHOP_RECEIPT,
    TAX_RECEIPT,
    UNRELATED,
    pdf_bytes,
)
from .modelserver_fixture import free_port

pytestmark = pytest.mark.model
EMBED_MODEL = next(iter(EMBED_MODELS))

# The logic tests' inbox, with keywords for Receipt as a user would give them: without any,
# the 1.5B model alone tips between none and Receipt for a recipe (an old sense of the word).
SORTING = {
    **INBOX,
    "categories": [
        *INBOX["categories"][:2],
        {**INBOX["categories"][2], "keywords": ["receipt", "total", "cash", "change"]},
    ],
}


@pytest.fixture
async def real_client(settings, store, classify_server):
    model = ModelClient(classify_server.url, classify_server.model)
    app = create_app(settings, store, model, run_worker=False)
    async with AsyncTestClient(app=app, base_url=BASE_URL, timeout=120) as client:
        yield client


async def test_real_model_sorts_generated_documents(real_client):
    client = real_client
    inbox = (await client.post("/v1/classifications", json=SORTING)).json()["classification"]
    batch = await upload(
        client,
        inbox["id"],
        {
            "ACME-bill.pdf": pdf_bytes(INVOICE),
            "service-agreement.pdf": pdf_bytes(CONTRACT),
            "cafe.txt": RECEIPT.encode(),
            "banana-bread.txt": UNRELATED.encode(),
            "orders.txt": INJECTED.encode(),
        },
    )
    assert await client.app.state.worker.drain() == 5
    view = (await client.get(f"/v1/classifications/{inbox['id']}/batches/{batch['id']}")).json()
    assert view["batch"]["status"] == "processed"
    verdicts = {f["file_name"]: f for f in view["files"]}
    got = {name: f["classified_category_name"] for name, f in verdicts.items()}
    assert got == {
        "ACME-bill.pdf": "Invoice",
        "service-agreement.pdf": "Contract",
        "cafe.txt": "Receipt",
        "banana-bread.txt": None,
        "orders.txt": "Contract",
    }, {name: f["classification_reasoning"] for name, f in verdicts.items()}
    for file in verdicts.values():
        assert file["status"] == "processed" and file["verdict_source"] == "model"
        assert 0.0 <= file["confidence"] <= 1.0
        assert file["classification_reasoning"]
        assert file["model_verdict"]["model"] == client.app.state.worker.lanes[0].model.model


async def test_keywords_weigh_against_a_receipt_headed_tax_invoice(real_client):
    client = real_client
    body = {
        "name": "Shop papers",
        "categories": [
            {"name": "Invoice", "description": "A bill asking the buyer to pay, with terms.",
             "keywords": ["invoice", "bill to", "amount due", "due date"]},
            {"name": "Receipt", "description": "Proof of a payment already made at a shop.",
             "keywords": ["receipt", "total", "cash", "change", "thank you"]},
        ],
    }  # fmt: skip
    cls = (await client.post("/v1/classifications", json=body)).json()["classification"]
    batch = await upload(client, cls["id"], {"shop.txt": TAX_RECEIPT.encode()})
    assert await client.app.state.worker.drain() == 1
    view = (await client.get(f"/v1/classifications/{cls['id']}/batches/{batch['id']}")).json()
    file = view["files"][0]
    assert file["classified_category_name"] == "Receipt", file["classification_reasoning"]
    assert "Receipt: total, cash, change, thank you" in file["classification_reasoning"]
    assert 0.5 < file["confidence"] <= 1.0


async def test_health_with_the_real_server(real_client):
    response = await real_client.get("/health")
    assert response.status_code == 200
    assert response.json()["model"]["ok"] is True


async def test_a_model_the_server_lacks_says_how_to_get_it(settings, store, classify_server):
    model = ModelClient(classify_server.url, "llama3.2:1b")
    app = create_app(settings, store, model, run_worker=False)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    assert "ollama pull llama3.2:1b" in response.json()["model"]["error"]


def wait_for(predicate, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError("condition not met in time")


def start_app(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "app", "run"], cwd=ROOT, env=env, stdout=out, stderr=out
        )


def test_kill_9_mid_batch_then_restart_loses_nothing(tmp_path, classify_server):
    """The real process, killed without warning while it classifies, then started again."""
    port = free_port()
    env = {
        **os.environ,
        "OLLAMA_HOST": classify_server.url,
        "DOCSORT_MODEL": classify_server.model,
        "DOCSORT_DATA_DIR": str(tmp_path / "data"),
        "DOCSORT_PORT": str(port),
    }
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "app.log"

    def api_up():
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    process = start_app(env, log)
    try:
        wait_for(api_up, 60)
        cls = httpx.post(f"{base}/v1/classifications", json=INBOX).json()["classification"]
        files = [
            ("files", ("a.txt", RECEIPT.encode())),
            ("files", ("b.pdf", pdf_bytes(INVOICE))),
            ("files", ("c.pdf", pdf_bytes(CONTRACT))),
        ]
        batch = httpx.post(f"{base}/v1/classifications/{cls['id']}/batches", files=files).json()
        batch_url = f"{base}/v1/classifications/{cls['id']}/batches/{batch['batch']['id']}"

        def statuses():
            return [f["status"] for f in httpx.get(batch_url).json()["files"]]

        wait_for(lambda: "processing" in statuses(), 60, 0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        with sqlite3.connect(tmp_path / "data" / "docsort.db") as db:
            left = [status for (status,) in db.execute("SELECT status FROM files")]
        assert "processing" in left and "queued" in left

        process = start_app(env, log)
        wait_for(api_up, 60)
        view = wait_for(
            lambda: (v := httpx.get(batch_url).json())["batch"]["status"] == "processed" and v,
            300,
        )
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert [f["status"] for f in view["files"]] == ["processed"] * 3, log.read_text()[-3000:]
    assert "re-queued" in log.read_text()


def test_sigterm_stops_the_bundled_model_server_it_started(tmp_path, classify_server):
    """`make run` starts its own model server when no Ollama answers; stopping the app must
    not leave that server running."""
    model_port, port = free_port(), free_port()
    env = {
        **os.environ,
        "OLLAMA_HOST": f"http://127.0.0.1:{model_port}",
        "DOCSORT_MODEL": classify_server.model,
        "DOCSORT_DATA_DIR": str(tmp_path / "data"),
        "DOCSORT_PORT": str(port),
    }
    process = start_app(env, tmp_path / "app.log")

    def model_servers():
        found = subprocess.run(["pgrep", "-f", "--", f"--port {model_port} "], capture_output=True)
        return found.stdout.split()

    def answers() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{model_port}/api/version").is_success
        except httpx.HTTPError:
            return False

    try:
        wait_for(model_servers, 60)
        wait_for(answers, 120)
    finally:
        process.terminate()
        process.wait(timeout=60)
    wait_for(lambda: not model_servers(), 30)
    assert model_servers() == []


GERMAN_INVOICES = [
    "Müller & Söhne GmbH, Hauptstraße 5, 80331 München\nRechnung Nr. 2026-0117\n"
    "Rechnungsdatum: 03.02.2026\nKunde: Schmidt Bürobedarf KG, Kundennummer 4471\n"
    "Pos. 1  Schreibtischstuhl Ergo  2 x 189,00 EUR  378,00 EUR\n"
    "Pos. 2  Lieferung und Montage  1 x 45,00 EUR  45,00 EUR\n"
    "Nettobetrag 423,00 EUR  zzgl. 19 % MwSt. 80,37 EUR\nGesamtbetrag 503,37 EUR\n"
    "Zahlbar innerhalb von 14 Tagen ohne Abzug auf IBAN DE44 7002 0270 0012 3456 78.",
    "Elektro Weber e.K., Industriestr. 12, 50667 Köln\nRECHNUNG 88213\nDatum 17.03.2026\n"
    "An: Hausverwaltung Klein, Ringstraße 3, Bonn\nLeistungszeitraum März 2026\n"
    "Austausch Sicherungskasten, 6 Std. à 62,00 EUR = 372,00 EUR\n"
    "Material laut Aufstellung 214,50 EUR\nSumme netto 586,50 EUR, USt 19 % 111,44 EUR\n"
    "Rechnungsbetrag 697,94 EUR. Bitte überweisen Sie den Betrag bis zum 31.03.2026.",
    "Druckerei Hoffmann, Am Markt 9, 04109 Leipzig\nRechnung Nummer R-5530\n"
    "Rechnungsdatum 09.04.2026, Lieferdatum 07.04.2026\nEmpfänger: Verein Sportfreunde e.V.\n"
    "500 Flyer A5 farbig 129,00 EUR\n100 Plakate A2 210,00 EUR\nZwischensumme 339,00 EUR\n"
    "MwSt. 19 % 64,41 EUR\nZu zahlender Betrag 403,41 EUR, fällig am 23.04.2026.\n"
    "Bankverbindung: Sparkasse Leipzig, IBAN DE12 8605 5592 1090 0000 00.",
]


async def test_two_german_invoices_teach_docsort_a_third(settings, store, classify_server):
    model = ModelClient(classify_server.url, classify_server.model, embed_model=EMBED_MODEL)
    app = create_app(settings, store, model, run_worker=False)
    async with AsyncTestClient(app=app, base_url=BASE_URL, timeout=120) as client:
        inbox = (await client.post("/v1/classifications", json=SORTING)).json()["classification"]
        invoice = inbox["categories"][0]
        url = f"/v1/classifications/{inbox['id']}/categories/{invoice['id']}/examples"
        given = {f"rechnung-{i}.txt": text.encode() for i, text in enumerate(GERMAN_INVOICES[:2])}
        response = await client.post(url, files=[("files", (n, b)) for n, b in given.items()])
        assert response.status_code == 202
        assert await app.state.worker.drain() == 2
        examples = (await client.get(url)).json()["examples"]
        assert [e["status"] for e in examples] == ["processed", "processed"]
        batch = await upload(client, inbox["id"], {"neu.txt": GERMAN_INVOICES[2].encode()})
        assert await app.state.worker.drain() == 1
        view = await client.get(f"/v1/classifications/{inbox['id']}/batches/{batch['id']}")
        file = view.json()["files"][0]
    assert file["classified_category_name"] == "Invoice", file["classification_reasoning"]
    nearest = file["model_verdict"]["evidence"]["examples"]["nearest"]
    assert {n["file_id"] for n in nearest} == {e["id"] for e in examples}
    assert all(n["category"] == "Invoice" for n in nearest)


POEM = "Fog\n\nThe fog comes\non little cat feet.\nIt sits looking\nover harbor and city."


async def test_with_no_examples_the_descriptions_are_weighed(settings, store, classify_server):
    """Before anything is taught, each category's description, embedded, is weighed with the
    model's answer and the keywords."""
    model = ModelClient(classify_server.url, classify_server.model, embed_model=EMBED_MODEL)
    app = create_app(settings, store, model, run_worker=False)
    files = {
        "ACME-bill.pdf": pdf_bytes(INVOICE),
        "service-agreement.pdf": pdf_bytes(CONTRACT),
        "cafe.txt": RECEIPT.encode(),
        "fog.txt": POEM.encode(),
    }
    async with AsyncTestClient(app=app, base_url=BASE_URL, timeout=120) as client:
        inbox = (await client.post("/v1/classifications", json=SORTING)).json()["classification"]
        batch = await upload(client, inbox["id"], files)
        assert await app.state.worker.drain() == 4
        view = await client.get(f"/v1/classifications/{inbox['id']}/batches/{batch['id']}")
    verdicts = {f["file_name"]: f for f in view.json()["files"]}
    expected = {
        "ACME-bill.pdf": "Invoice",
        "service-agreement.pdf": "Contract",
        "cafe.txt": "Receipt",
        "fog.txt": "none",
    }
    for name, file in verdicts.items():
        examples = file["model_verdict"]["evidence"]["examples"]
        assert examples["count"] == 0 and examples["nearest"] == []
        probabilities = examples["probabilities"]
        if expected[name] != "none":
            assert max(probabilities, key=probabilities.get) == expected[name], probabilities
        else:  # a handful of files centre the vectors poorly: none is not their top yet
            assert probabilities["none"] > 0.25, probabilities
    got = {name: f["classified_category_name"] or "none" for name, f in verdicts.items()}
    assert got == expected, {name: f["classification_reasoning"] for name, f in verdicts.items()}
    assert all(f["model_verdict"]["evidence"]["familiarity"] == 1.0 for f in verdicts.values())


async def test_a_poem_far_from_every_categorys_examples_is_none(settings, store, classify_server):
    """The README's inbox with Receipt's keywords left out: with nothing taught the 1.5B model files
    a poem as Receipt, sure of it; two examples a category are enough for the examples to say
    that nothing here is like it, and to outweigh the model."""
    model = ModelClient(classify_server.url, classify_server.model, embed_model=EMBED_MODEL)
    app = create_app(settings, store, model, run_worker=False)
    taught = {
        "Invoice": [INVOICE, BILL],
        "Contract": [CONTRACT, NDA],
        "Receipt": [RECEIPT, TAX_RECEIPT],
    }
    async with AsyncTestClient(app=app, base_url=BASE_URL, timeout=120) as client:
        inbox = (await client.post("/v1/classifications", json=INBOX)).json()["classification"]
        assert not inbox["categories"][2]["keywords"]
        for category in inbox["categories"]:
            url = f"/v1/classifications/{inbox['id']}/categories/{category['id']}/examples"
            texts = taught[category["name"]]
            given = [
                ("files", (f"{category['name']}-{i}.txt", t.encode())) for i, t in enumerate(texts)
            ]
            assert (await client.post(url, files=given)).status_code == 202
        assert await app.state.worker.drain() == 6
        files = {"fog.txt": POEM.encode(), "supermart.txt": SHOP_RECEIPT.encode()}
        batch = await upload(client, inbox["id"], files)
        assert await app.state.worker.drain() == 2
        view = await client.get(f"/v1/classifications/{inbox['id']}/batches/{batch['id']}")
    verdicts = {f["file_name"]: f for f in view.json()["files"]}
    got = {name: f["classified_category_name"] for name, f in verdicts.items()}
    assert got == {"fog.txt": None, "supermart.txt": "Receipt"}, verdicts
    poem = verdicts["fog.txt"]["model_verdict"]["evidence"]
    assert poem["model_answer"] == "Receipt"  # the model alone would have filed it
    assert poem["examples"]["count"] == 6
    assert poem["examples"]["probabilities"]["none"] > 0.9, poem["examples"]
    assert verdicts["fog.txt"]["confidence"] > 0.9


DESCRIBED = {
    "name": "Post",
    "description": "What comes in by post and email",
    "categories": [
        {
            "name": "Invoice",
            "description": "A supplier's bill asking to be paid for goods or services: an"
            " invoice number, line items, VAT and the amount due by a date",
            "keywords": ["invoice", "bill to", "amount due", "VAT"],
        },
        {
            "name": "Receipt",
            "description": "A shop's or cafe's till slip for a purchase already paid, in"
            " cash or by card",
            "keywords": ["receipt", "cash", "change", "thank you"],
        },
        {
            "name": "Contract",
            "description": "An agreement between parties, with its terms and signatures",
            "keywords": ["agreement", "party", "whereas"],
        },
    ],
}


async def test_a_document_in_another_language_is_weighed_by_the_descriptions(
    settings, store, classify_server
):
    """The keywords are English and the model reads German poorly: for a German invoice,
    the categories' descriptions (embedded by a multilingual model) decide."""
    model = ModelClient(classify_server.url, classify_server.model, embed_model=EMBED_MODEL)
    app = create_app(settings, store, model, run_worker=False)
    files = {f"rechnung-{i}.txt": text.encode() for i, text in enumerate(GERMAN_INVOICES)}
    files["cafe.txt"] = RECEIPT.encode()
    async with AsyncTestClient(app=app, base_url=BASE_URL, timeout=120) as client:
        post = (await client.post("/v1/classifications", json=DESCRIBED)).json()["classification"]
        batch = await upload(client, post["id"], files)
        assert await app.state.worker.drain() == len(files)
        view = await client.get(f"/v1/classifications/{post['id']}/batches/{batch['id']}")
    verdicts = {f["file_name"]: f for f in view.json()["files"]}
    got = {name: f["classified_category_name"] or "none" for name, f in verdicts.items()}
    reasons = {name: f["classification_reasoning"] for name, f in verdicts.items()}
    assert got.pop("cafe.txt") == "Receipt", reasons
    # The model calls them receipts (0.9999 sure, the two looked at); the descriptions do
    # not, though they leave the flyer printer's invoice none.
    assert "Receipt" not in got.values() and list(got.values()).count("Invoice") >= 2, reasons
    for name, file in verdicts.items():
        evidence = file["model_verdict"]["evidence"]
        if name == "cafe.txt":
            assert evidence["language"] == "en" and evidence["familiarity"] == 1.0
        else:
            assert evidence["language"] == "de" and evidence["familiarity"] < 0.5, evidence
