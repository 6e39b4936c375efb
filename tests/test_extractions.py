"""Extraction templates, direct extraction batches, and how answers are validated and coerced."""

from __future__ import annotations

import copy
import json
import re

import pytest

from app.errors import ModelUnavailable
from app.extraction import (
    Extractor,
    object_schema,
    parse_date,
    parse_fields,
    parse_number,
    to_boolean,
)
from app.prompts import Prompts

from .conftest import DEAD_OWNER, ROOT

INVOICE_FIELDS = {
    "name": "Invoice fields",
    "description": "What accounts payable needs from a supplier invoice",
    "fields": [
        {
            "name": "invoice_number",
            "type": "string",
            "description": "The invoice's number",
            "required": True,
        },
        {"name": "total", "type": "number", "description": "Total due", "required": True},
        {"name": "issue_date", "type": "date", "description": "When it was issued"},
        {"name": "currency", "type": "enum", "values": ["EUR", "GBP", "USD"]},
        {"name": "paid", "type": "boolean"},
        {"name": "page_count", "type": "integer"},
        {
            "name": "line_items",
            "type": "array",
            "items": {
                "type": "object",
                "fields": [
                    {"name": "description", "type": "string", "required": True},
                    {"name": "amount", "type": "number"},
                ],
            },
        },
    ],
}


async def create_extraction(client, body=INVOICE_FIELDS) -> dict:
    response = await client.post("/v1/extractions", json=body)
    assert response.status_code == 201, response.text
    return response.json()["extraction"]


async def upload(client, ext_id: str, files: dict[str, bytes]) -> dict:
    parts = [("files", (name, data, "application/octet-stream")) for name, data in files.items()]
    response = await client.post(f"/v1/extractions/{ext_id}/batches", files=parts)
    assert response.status_code == 202, response.text
    return response.json()["batch"]


async def batch_view(client, ext_id: str, batch_id: str) -> dict:
    response = await client.get(f"/v1/extractions/{ext_id}/batches/{batch_id}")
    assert response.status_code == 200, response.text
    return response.json()


# Templates ----------------------------------------------------------------------------------


async def test_create_list_show_and_patch_a_template(client):
    created = await create_extraction(client)
    assert re.fullmatch(r"ext_[0-9A-Z]{26}", created["id"])
    assert created["name"] == "Invoice fields"
    first = created["fields"][0]
    assert first == {
        "name": "invoice_number",
        "type": "string",
        "description": "The invoice's number",
        "required": True,
    }
    assert created["fields"][2]["required"] is False  # defaults are filled in
    assert created["fields"][6]["items"]["fields"][0]["name"] == "description"

    listed = (await client.get("/v1/extractions")).json()["extractions"]
    assert listed == [created]
    shown = (await client.get(f"/v1/extractions/{created['id']}")).json()["extraction"]
    assert shown == created

    fields = [*INVOICE_FIELDS["fields"][:2], {"name": "vendor", "type": "string"}]
    response = await client.patch(f"/v1/extractions/{created['id']}", json={"fields": fields})
    assert response.status_code == 200, response.text
    patched = response.json()["extraction"]
    assert [f["name"] for f in patched["fields"]] == ["invoice_number", "total", "vendor"]
    assert patched["name"] == "Invoice fields" and patched["updated_at"] >= created["updated_at"]

    response = await client.patch(f"/v1/extractions/{created['id']}", json={"name": "Bills"})
    assert response.json()["extraction"]["name"] == "Bills"
    assert len(response.json()["extraction"]["fields"]) == 3


def with_fields(*fields):
    return {"name": "T", "fields": list(fields)}


BAD_TEMPLATES = {
    "unknown-type": with_fields({"name": "a", "type": "currency"}),
    "duplicate-names": with_fields({"name": "a", "type": "string"}, {"name": "a", "type": "date"}),
    "duplicate-nested-names": with_fields(
        {
            "name": "o",
            "type": "object",
            "fields": [{"name": "x", "type": "string"}, {"name": "x", "type": "number"}],
        }
    ),
    "enum-without-values": with_fields({"name": "a", "type": "enum"}),
    "enum-duplicate-values": with_fields({"name": "a", "type": "enum", "values": ["A", "a"]}),
    "values-on-a-string": with_fields({"name": "a", "type": "string", "values": ["x"]}),
    "array-without-items": with_fields({"name": "a", "type": "array"}),
    "array-of-arrays": with_fields(
        {"name": "a", "type": "array", "items": {"type": "array", "items": {"type": "string"}}}
    ),
    "object-without-fields": with_fields({"name": "a", "type": "object"}),
    "too-deep": with_fields(
        {
            "name": "a",
            "type": "object",
            "fields": [
                {
                    "name": "b",
                    "type": "object",
                    "fields": [
                        {"name": "c", "type": "object", "fields": [{"name": "d", "type": "string"}]}
                    ],
                }
            ],
        }
    ),
    "name-with-spaces": with_fields({"name": "invoice number", "type": "string"}),
    "no-fields": with_fields(),
    "unknown-key": with_fields({"name": "a", "type": "string", "format": "email"}),
    "no-name": {"fields": [{"name": "a", "type": "string"}]},
}


@pytest.mark.parametrize("body", BAD_TEMPLATES.values(), ids=BAD_TEMPLATES.keys())
async def test_bad_templates_are_422_and_store_nothing(client, body):
    response = await client.post("/v1/extractions", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_input"
    assert (await client.get("/v1/extractions")).json() == {"extractions": []}


async def test_bad_patch_is_422_and_changes_nothing(client):
    created = await create_extraction(client)
    url = f"/v1/extractions/{created['id']}"
    for body in [BAD_TEMPLATES["unknown-type"], BAD_TEMPLATES["duplicate-names"], {"x": 1}]:
        response = await client.patch(url, json={"fields": body.get("fields", body)})
        assert response.status_code == 422
    assert (await client.get(url)).json()["extraction"] == created
    assert (await client.patch("/v1/extractions/ext_nope", json={"name": "x"})).status_code == 404


# Direct batches -----------------------------------------------------------------------------

INVOICE_TEXT = b"""INVOICE
invoice_number: INV-2026-0042
total: 1.234,56 \xe2\x82\xac
issue_date: 14 March 2026
currency: eur
paid: no
page_count: 2
"""


async def test_a_direct_batch_extracts_coerces_and_leaves_missing_fields_null(
    client, worker, fake_model, settings
):
    ext = await create_extraction(client)
    batch = await upload(client, ext["id"], {"bill.txt": INVOICE_TEXT, "memo.txt": b"Just a memo"})
    assert re.fullmatch(r"ebtc_[0-9A-Z]{26}", batch["id"])
    assert (batch["status"], batch["file_count"]) == ("queued", 2)

    assert await worker.drain() == 2
    view = await batch_view(client, ext["id"], batch["id"])
    assert view["batch"]["status"] == "processed"
    assert view["batch"]["processed_count"] == 2 and view["batch"]["finished_at"]
    files = {f["file_name"]: f for f in view["files"]}
    bill = files["bill.txt"]
    assert bill["id"].startswith("file_") and bill["source"] == "direct"
    assert bill["status"] == "processed" and bill["error"] is None
    assert bill["data"] == {
        "invoice_number": "INV-2026-0042",
        "total": 1234.56,
        "issue_date": "2026-03-14",
        "currency": "EUR",
        "paid": False,
        "page_count": 2,
        "line_items": None,
    }
    assert bill["missing_required"] == []
    assert bill["model"] == "fake-model"
    assert (settings.uploads_dir / batch["id"] / bill["id"]).exists()

    memo = files["memo.txt"]
    assert memo["status"] == "processed"
    assert set(memo["data"]) == {f["name"] for f in INVOICE_FIELDS["fields"]}
    assert all(value is None for value in memo["data"].values())
    assert memo["missing_required"] == ["invoice_number", "total"]

    shown = await client.get(f"/v1/extractions/{ext['id']}/files/{bill['id']}")
    assert shown.json()["file"] == bill
    listed = (await client.get(f"/v1/extractions/{ext['id']}/batches")).json()["batches"]
    assert [b["id"] for b in listed] == [batch["id"]]

    # The model saw the fields, their types, and the document.
    call = fake_model.calls[0]
    assert '"total" (number, required): Total due' in call["system"]
    assert '"currency" (one of: "EUR", "GBP", "USD")' in call["system"]
    assert "INV-2026-0042" in call["user"] and "INV-2026-0042" not in call["system"]
    assert call["schema"]["required"] == [f["name"] for f in INVOICE_FIELDS["fields"]]


async def test_an_answer_that_does_not_fit_is_asked_again_then_fails_readably(
    client, worker, fake_model
):
    ext = await create_extraction(client)
    fake_model.replies = ['{"total": "1,2,3.4.5"}', "not json", '{"currency": "Yen"}']
    batch = await upload(client, ext["id"], {"a.txt": b"text"})
    await worker.drain()
    file = (await batch_view(client, ext["id"], batch["id"]))["files"][0]
    assert file["status"] == "failed" and file["data"] is None
    assert "no valid answer for these fields in 3 tries" in file["error"]
    assert "currency: 'Yen' is not one of: EUR, GBP, USD" in file["error"]
    assert [c["attempt"] for c in fake_model.calls] == [0, 1, 2]


async def test_a_second_answer_is_used_when_the_first_is_invalid(client, worker, fake_model):
    ext = await create_extraction(client)
    fake_model.replies = ["{", json.dumps({"invoice_number": 42, "total": 960})]
    batch = await upload(client, ext["id"], {"a.txt": b"text"})
    await worker.drain()
    file = (await batch_view(client, ext["id"], batch["id"]))["files"][0]
    assert file["status"] == "processed"
    assert file["data"]["invoice_number"] == "42" and file["data"]["total"] == 960.0


async def test_an_unreadable_file_fails_with_a_readable_error(client, worker, fake_model):
    ext = await create_extraction(client)
    batch = await upload(client, ext["id"], {"blob.bin": bytes(range(256)) * 20})
    await worker.drain()
    file = (await batch_view(client, ext["id"], batch["id"]))["files"][0]
    assert file["status"] == "failed" and file["error"]
    assert fake_model.calls == []


async def test_model_outage_waits_then_succeeds(client, worker, fake_model):
    ext = await create_extraction(client)
    fake_model.replies = [ModelUnavailable("connection refused")]
    worker.lanes[0].outage.base_seconds = 0  # probe again at once
    batch = await upload(client, ext["id"], {"a.txt": INVOICE_TEXT})
    # The run that found the server down, then (the probe answered at once) the run again.
    assert await worker.drain() == 2
    file = (await batch_view(client, ext["id"], batch["id"]))["files"][0]
    assert file["status"] == "processed" and file["attempts"] == 2
    assert file["data"]["invoice_number"] == "INV-2026-0042"


async def test_start_requeues_an_extraction_a_dead_process_left_processing(client, worker, store):
    ext = await create_extraction(client)
    batch = await upload(client, ext["id"], {"a.txt": INVOICE_TEXT})
    assert await store.claim_extraction(DEAD_OWNER) is not None  # then the process died
    await worker.upkeep()
    assert await worker.drain() == 1
    file = (await batch_view(client, ext["id"], batch["id"]))["files"][0]
    assert file["status"] == "processed" and file["attempts"] == 2


async def test_patched_fields_apply_to_the_next_run_only(client, worker):
    ext = await create_extraction(client)
    first = await upload(client, ext["id"], {"a.txt": INVOICE_TEXT})
    await worker.drain()
    await client.patch(
        f"/v1/extractions/{ext['id']}", json={"fields": [{"name": "total", "type": "number"}]}
    )
    second = await upload(client, ext["id"], {"a.txt": INVOICE_TEXT})
    await worker.drain()
    old = (await batch_view(client, ext["id"], first["id"]))["files"][0]["data"]
    new = (await batch_view(client, ext["id"], second["id"]))["files"][0]["data"]
    assert len(old) == 7 and new == {"total": 1234.56}


async def test_refused_uploads_store_nothing(client, settings):
    ext = await create_extraction(client)
    url = f"/v1/extractions/{ext['id']}/batches"
    response = await client.post(url, files=[("other", ("a.txt", b"x"))])
    assert response.status_code == 422 and response.json()["error"]["code"] == "no_files"
    response = await client.post(url, json={"files": []})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    many = [("files", (f"{i}.txt", b"x")) for i in range(settings.max_files + 1)]
    response = await client.post(url, files=many)
    assert response.json()["error"]["code"] == "too_many_files"
    response = await client.post("/v1/extractions/ext_nope/batches", files=[("files", ("a", b"x"))])
    assert response.status_code == 404
    assert (await client.get(url)).json() == {"batches": []}
    assert not [p for p in settings.uploads_dir.rglob("*") if p.is_file()]


async def test_unknown_batch_and_file_are_404(client):
    ext = await create_extraction(client)
    assert (await client.get(f"/v1/extractions/{ext['id']}/batches/ebtc_x")).status_code == 404
    assert (await client.get(f"/v1/extractions/{ext['id']}/files/file_x")).status_code == 404
    assert (await client.get("/v1/extractions/ext_x")).status_code == 404


# Coercion, schema and prompt ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text, number",
    [
        ("1.234,56 €", 1234.56),
        ("$1,234.56", 1234.56),
        ("1 234,50", 1234.5),
        ("1'234.50 CHF", 1234.5),
        ("EUR 960.00", 960.0),
        ("960", 960.0),
        ("12,5", 12.5),
        ("1,234", 1234.0),
        ("1.234.567", 1234567.0),
        ("-5,25", -5.25),
        ("(12.00)", -12.0),
        ("Total: 960.00 (incl. 20% VAT)", 960.0),
        ("not stated", None),
    ],
)
def test_numbers_are_read_the_way_people_write_them(text, number):
    assert parse_number(text) == number


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-14",
        "2026-03-14T09:30:00Z",
        "14 March 2026",
        "14th March 2026",
        "March 14, 2026",
        "14 Mar. 2026",
        "14.03.2026",
        "14/03/2026",
        "03/14/2026",
        "2026/03/14",
        "14.03.26",
    ],
)
def test_dates_become_iso(text):
    assert parse_date(text).isoformat() == "2026-03-14"


def test_impossible_dates_and_unreadable_values_are_errors():
    for text in ["31 February 2026", "someday", "2026-13-01"]:
        with pytest.raises(ValueError):
            parse_date(text)
    with pytest.raises(ValueError):
        parse_number("1,2,3.4.5")
    with pytest.raises(ValueError):
        to_boolean("maybe")
    assert to_boolean("Yes") is True and to_boolean("n/a") is None


def test_the_model_schema_makes_every_field_present_and_nullable():
    schema = object_schema(parse_fields(INVOICE_FIELDS["fields"]))
    assert schema["additionalProperties"] is False
    assert schema["required"] == list(schema["properties"])
    for prop in schema["properties"].values():
        assert {"type": "null"} in prop["anyOf"]
    assert {"enum": ["EUR", "GBP", "USD"]} in schema["properties"]["currency"]["anyOf"]
    items = schema["properties"]["line_items"]["anyOf"][0]["items"]
    assert items["required"] == ["description", "amount"]


def test_the_prompt_lists_nested_fields():
    extractor = Extractor(None, Prompts(ROOT / "prompts"))  # type: ignore[arg-type]
    body = copy.deepcopy(INVOICE_FIELDS)
    system, user = extractor.render(body, "Hello")
    assert '- "line_items" (list of objects)\n  - "description" (string, required)' in system
    assert '"issue_date" (date, YYYY-MM-DD): When it was issued' in system
    assert "never guess" in system
    assert user == "<document>\nHello\n</document>"


async def test_nested_values_are_validated_and_missing_required_ones_listed(
    client, worker, fake_model
):
    ext = await create_extraction(client)
    fake_model.replies = [
        json.dumps(
            {
                "invoice_number": "A-1",
                "total": "960,00",
                "line_items": [
                    {"description": "Chair", "amount": "480.00"},
                    {"description": None, "amount": 70},
                    None,
                ],
                "unexpected": "dropped",
            }
        )
    ]
    batch = await upload(client, ext["id"], {"a.txt": b"text"})
    await worker.drain()
    file = (await batch_view(client, ext["id"], batch["id"]))["files"][0]
    assert file["data"]["line_items"] == [
        {"description": "Chair", "amount": 480.0},
        {"description": None, "amount": 70.0},
    ]
    assert "unexpected" not in file["data"] and file["data"]["total"] == 960.0
    assert file["missing_required"] == ["line_items[1].description"]
