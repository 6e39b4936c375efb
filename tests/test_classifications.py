import copy
import re

import pytest

from .conftest import INBOX, upload


def error_code(response) -> str:
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    return body["error"]["code"]


async def test_create_returns_classification_with_prefixed_ids(client):
    response = await client.post("/v1/classifications", json=INBOX)
    assert response.status_code == 201
    cls = response.json()["classification"]
    assert re.fullmatch(r"cls_[0-9A-Z]{26}", cls["id"])
    assert cls["name"] == "Inbox triage"
    assert [c["name"] for c in cls["categories"]] == ["Invoice", "Contract", "Receipt"]
    invoice = cls["categories"][0]
    assert re.fullmatch(r"cat_[0-9A-Z]{26}", invoice["id"])
    assert invoice["keywords"] == ["invoice", "bill to", "total due"]
    assert invoice["linked_extraction_id"] is None
    assert cls["categories"][2]["keywords"] == []


def with_categories(categories):
    body = copy.deepcopy(INBOX)
    body["categories"] = categories
    return body


@pytest.mark.parametrize(
    "body",
    [
        with_categories([]),
        with_categories([{"name": "Invoice"}, {"name": "INVOICE"}]),
        with_categories([{"name": "None"}]),
        with_categories([{"name": ""}]),
        with_categories([{"name": "x" * 101}]),
        with_categories([{"name": "A", "keywords": ["k"] * 51}]),
        with_categories([{"id": "cat_X", "name": "A"}]),
        with_categories([{"name": "A", "colour": "red"}]),
        {**INBOX, "name": ""},
        {"categories": INBOX["categories"]},
        {**INBOX, "description": "d" * 2001},
    ],
    ids=[
        "no-categories", "duplicate-names", "reserved-none", "empty-name", "long-name",
        "too-many-keywords", "id-on-create", "unknown-field", "empty-classification-name",
        "missing-name", "long-description",
    ],
)  # fmt: skip
async def test_create_rejects_bad_bodies_and_stores_nothing(client, body):
    response = await client.post("/v1/classifications", json=body)
    assert response.status_code == 422
    assert error_code(response) == "invalid_input"
    assert (await client.get("/v1/classifications")).json() == {"classifications": []}


async def test_invalid_json_is_a_4xx_with_the_error_shape(client):
    response = await client.post(
        "/v1/classifications", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    error_code(response)


async def test_list_and_get(client, inbox):
    listed = (await client.get("/v1/classifications")).json()["classifications"]
    assert [c["id"] for c in listed] == [inbox["id"]]
    one = await client.get(f"/v1/classifications/{inbox['id']}")
    assert one.status_code == 200
    assert one.json()["classification"] == listed[0]


async def test_unknown_ids_are_404(client, inbox):
    for path in [
        "/v1/classifications/cls_nope",
        f"/v1/classifications/{inbox['id']}/batches/cbtc_nope",
        f"/v1/classifications/{inbox['id']}/files/file_nope",
        "/v1/classifications/cls_nope/batches",
        "/v1/nothing-here",
    ]:
        response = await client.get(path)
        assert response.status_code == 404, path
        assert error_code(response) == "not_found"


async def test_patch_edits_adds_and_removes_categories(client, inbox):
    invoice, contract, _receipt = inbox["categories"]
    response = await client.patch(
        f"/v1/classifications/{inbox['id']}",
        json={
            "description": "Tuned",
            "categories": [
                {"id": invoice["id"], "name": "Bill", "description": "Vendor bills"},
                {"id": contract["id"], "name": "Contract", "keywords": ["agreement"]},
                {"name": "Payslip", "description": "Monthly salary statements"},
            ],
        },
    )
    assert response.status_code == 200, response.text
    cls = response.json()["classification"]
    assert cls["name"] == "Inbox triage" and cls["description"] == "Tuned"
    names = [(c["id"], c["name"]) for c in cls["categories"]]
    assert names[:2] == [(invoice["id"], "Bill"), (contract["id"], "Contract")]
    assert names[2][1] == "Payslip" and names[2][0].startswith("cat_")
    assert cls["categories"][1]["keywords"] == ["agreement"]


async def test_patch_rejects_a_category_id_of_another_classification(client, inbox):
    other = (await client.post("/v1/classifications", json=INBOX)).json()["classification"]
    foreign = other["categories"][0]
    response = await client.patch(
        f"/v1/classifications/{inbox['id']}",
        json={"categories": [{"id": foreign["id"], "name": "Invoice"}]},
    )
    assert response.status_code == 422
    assert error_code(response) == "unknown_category"
    unchanged = (await client.get(f"/v1/classifications/{inbox['id']}")).json()
    assert unchanged["classification"] == inbox


async def test_patch_unknown_classification_is_404(client):
    response = await client.patch("/v1/classifications/cls_nope", json={"name": "x"})
    assert response.status_code == 404


async def test_removing_a_category_keeps_verdicts_made_with_it(client, inbox, worker):
    batch = await upload(client, inbox["id"], {"bill.txt": b"Invoice 42, total due 10 EUR"})
    await worker.drain()
    invoice = inbox["categories"][0]
    response = await client.patch(
        f"/v1/classifications/{inbox['id']}",
        json={"categories": [c for c in inbox["categories"] if c["name"] != "Invoice"]},
    )
    assert [c["name"] for c in response.json()["classification"]["categories"]] == [
        "Contract",
        "Receipt",
    ]
    view = (await client.get(f"/v1/classifications/{inbox['id']}/batches/{batch['id']}")).json()
    (file,) = view["files"]
    assert file["classified_category_id"] == invoice["id"]
    assert file["classified_category_name"] == "Invoice"
    assert file["classified_category_removed"] is True
    assert file["verdict_source"] == "model"


async def test_a_failed_write_leaves_no_half_classification(store):
    with pytest.raises(KeyError):
        await store.create_classification("x", "", [{"name": "A"}, {"bogus": "no name"}])
    assert await store.list_classifications() == []
