"""Stale verdicts: machine verdicts made with category definitions that changed since, what
changed, and the bulk redo that makes them fresh again."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from app.definitions import changes, snapshot
from app.migrations import MIGRATIONS, migrate
from app.store import Store

from .conftest import upload

FILES = {
    "bill.txt": b"Invoice 42, total due 10 EUR",
    "nda.txt": b"Contract between the parties",
    "till.txt": b"Receipt, paid cash",
}


async def classified(client, worker, cls_id: str) -> dict[str, dict[str, Any]]:
    """The batch's files by name, once the worker is done with them."""
    batch = await upload(client, cls_id, FILES)
    await worker.drain()
    return await files_of(client, cls_id, batch["id"])


async def files_of(client, cls_id: str, batch_id: str) -> dict[str, dict[str, Any]]:
    view = await client.get(f"/v1/classifications/{cls_id}/batches/{batch_id}")
    return {f["file_name"]: f for f in view.json()["files"]}


async def edit(client, cls: dict[str, Any], **changed: dict[str, Any]) -> dict[str, Any]:
    """PATCH the categories: `changed` maps a category's name to the fields to change."""
    categories = [{**c, **changed.get(c["name"], {})} for c in cls["categories"]]
    response = await client.patch(
        f"/v1/classifications/{cls['id']}", json={"categories": categories}
    )
    assert response.status_code == 200, response.text
    return response.json()["classification"]


async def test_a_changed_description_makes_processed_files_stale(client, inbox, worker):
    files = await classified(client, worker, inbox["id"])
    assert {f["status"] for f in files.values()} == {"processed"}
    assert not any(f["stale"] for f in files.values())
    assert all(f["stale_changes"] == [] for f in files.values())
    await edit(client, inbox, Invoice={"description": "Bills from vendors, with a total"})
    after = await files_of(client, inbox["id"], files["bill.txt"]["batch_id"])
    assert all(f["stale"] for f in after.values())
    assert after["nda.txt"]["stale_changes"] == ["Invoice: description changed"]
    one = await client.get(f"/v1/classifications/{inbox['id']}/files/{files['bill.txt']['id']}")
    assert one.json()["file"]["stale_changes"] == ["Invoice: description changed"]


async def test_a_patch_that_changes_nothing_leaves_verdicts_fresh(client, inbox, worker):
    files = await classified(client, worker, inbox["id"])
    await edit(client, inbox)  # the same categories, as they are
    response = await client.patch(
        f"/v1/classifications/{inbox['id']}", json={"name": "Renamed", "description": "Other"}
    )
    assert response.status_code == 200
    reordered = [*reversed(inbox["categories"])]
    reordered[-1] = {**reordered[-1], "keywords": [*reversed(reordered[-1]["keywords"])]}
    response = await client.patch(
        f"/v1/classifications/{inbox['id']}", json={"categories": reordered}
    )
    assert response.status_code == 200
    after = await files_of(client, inbox["id"], files["bill.txt"]["batch_id"])
    assert not any(f["stale"] for f in after.values())


async def test_a_change_undone_leaves_verdicts_fresh(client, inbox, worker):
    files = await classified(client, worker, inbox["id"])
    await edit(client, inbox, Receipt={"description": "Till slips"})
    batch_id = files["bill.txt"]["batch_id"]
    assert all(f["stale"] for f in (await files_of(client, inbox["id"], batch_id)).values())
    await edit(client, inbox)  # back to the definitions the verdicts were made with
    assert not any(f["stale"] for f in (await files_of(client, inbox["id"], batch_id)).values())


async def test_what_changed_is_listed_per_category(client, inbox, worker):
    files = await classified(client, worker, inbox["id"])
    invoice, contract, _receipt = inbox["categories"]
    response = await client.patch(
        f"/v1/classifications/{inbox['id']}",
        json={
            "categories": [
                {**invoice, "name": "Bill", "keywords": ["invoice"]},
                contract,
                {"name": "Payslip", "description": "Salary statements"},
            ]
        },
    )
    assert response.status_code == 200
    after = await files_of(client, inbox["id"], files["bill.txt"]["batch_id"])
    assert after["bill.txt"]["stale_changes"] == [
        "Invoice → Bill: renamed",
        "Bill: keywords changed",
        "Payslip: added",
        "Receipt: removed",
    ]


async def test_checked_files_are_never_stale(client, inbox, worker):
    files = await classified(client, worker, inbox["id"])
    receipt = inbox["categories"][2]
    base = f"/v1/classifications/{inbox['id']}/files"
    overridden = await client.patch(
        f"{base}/{files['bill.txt']['id']}", json={"classified_category_id": receipt["id"]}
    )
    assert overridden.status_code == 200
    confirmed = await client.post(f"{base}/{files['nda.txt']['id']}/confirm")
    assert confirmed.status_code == 200
    await edit(client, inbox, Receipt={"keywords": ["receipt", "cash"]})
    after = await files_of(client, inbox["id"], files["bill.txt"]["batch_id"])
    assert after["bill.txt"]["stale"] is False and after["bill.txt"]["stale_changes"] == []
    assert after["nda.txt"]["stale"] is False  # confirmed: a person vouched for it
    assert after["till.txt"]["stale_changes"] == ["Receipt: keywords changed"]


async def test_redo_requeues_only_stale_files_and_they_come_back_fresh(
    client, inbox, worker, fake_model
):
    files = await classified(client, worker, inbox["id"])
    receipt = inbox["categories"][2]
    base = f"/v1/classifications/{inbox['id']}"
    await client.patch(
        f"{base}/files/{files['bill.txt']['id']}", json={"classified_category_id": receipt["id"]}
    )
    await edit(client, inbox, Contract={"description": "Agreements of any kind"})
    later = await upload(client, inbox["id"], {"later.txt": b"Contract, made after the edit"})
    await worker.drain()
    calls = len(fake_model.calls)
    response = await client.post(f"{base}/stale/redo")
    assert response.status_code == 202, response.text
    assert response.json() == {"requeued": 2}  # nda and till; not the override, not later
    queued = await files_of(client, inbox["id"], files["bill.txt"]["batch_id"])
    assert queued["nda.txt"]["status"] == "queued" and queued["till.txt"]["status"] == "queued"
    assert queued["bill.txt"]["classified_category_id"] == receipt["id"]
    assert (await files_of(client, inbox["id"], later["id"]))["later.txt"]["status"] == "processed"
    await worker.drain()
    assert len(fake_model.calls) == calls + 2
    after = await files_of(client, inbox["id"], files["bill.txt"]["batch_id"])
    assert {f["status"] for f in after.values()} == {"processed"}
    assert not any(f["stale"] for f in after.values())
    assert after["bill.txt"]["verdict_source"] == "override"
    again = await client.post(f"{base}/stale/redo")
    assert again.json() == {"requeued": 0}
    missing = await client.post("/v1/classifications/cls_unknown/stale/redo")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_a_verdict_made_while_the_definitions_changed_is_stale(client, inbox, store):
    """Claimed before the edit, recorded after it: the model saw the old definitions."""
    await upload(client, inbox["id"], {"bill.txt": b"Invoice"})
    job = await store.claim_file("test-owner")
    await edit(client, inbox, Invoice={"description": "Changed mid-run"})
    invoice = inbox["categories"][0]
    assert await store.record_verdict(job["id"], job["run_token"], invoice["id"], 0.9, "r", "m")
    file = await client.get(f"/v1/classifications/{inbox['id']}/files/{job['id']}")
    assert file.json()["file"]["stale_changes"] == ["Invoice: description changed"]


def test_changes_read_as_a_person_would_say_them():
    old = snapshot(
        [
            {"id": "a", "name": "Bill", "description": "d", "keywords": ["x", "y"]},
            {"id": "b", "name": "Memo", "description": ""},
            {"id": "c", "name": "Letter", "linked_extraction_id": "ext_1"},
        ]
    )
    new = snapshot(
        [
            {"id": "c", "name": "Letter", "linked_extraction_id": "ext_2"},
            {"id": "a", "name": "Invoice", "description": "other", "keywords": ["y", "x"]},
            {"id": "d", "name": "Receipt"},
        ]
    )
    assert changes(old, new) == [
        "Letter: linked extraction changed",
        "Bill → Invoice: renamed",
        "Invoice: description changed",
        "Receipt: added",
        "Memo: removed",
    ]
    assert changes(new, new) == [] and changes(old, old) == []


def test_the_migration_takes_earlier_verdicts_as_made_with_version_1(tmp_path):
    """A database from before versions: its verdicts are fresh until the next edit."""
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    db["_migrations"].create({"name": str, "applied_at": str}, pk="name")
    for name, fn in MIGRATIONS:
        if name == "m010_definition_versions":
            break
        fn(db)
        db["_migrations"].insert({"name": name, "applied_at": "then"})
    ts = "2024-01-01T00:00:00.000Z"
    db["classifications"].insert(
        {"id": "cls_1", "name": "C", "description": "", "created_at": ts, "updated_at": ts}
    )
    db["categories"].insert(
        {
            "id": "cat_1",
            "classification_id": "cls_1",
            "position": 0,
            "name": "Invoice",
            "description": "Bills",
            "keywords": '["total"]',
        }  # fmt: skip
    )
    db["batches"].insert({"id": "b_1", "classification_id": "cls_1", "file_count": 1})
    db["files"].insert(
        {
            "id": "f_1",
            "batch_id": "b_1",
            "classification_id": "cls_1",
            "status": "processed",
            "model_category_id": "cat_1",
            "overridden": 0,
            "started_at": ts,
        }  # fmt: skip
    )
    assert migrate(db) == ["m010_definition_versions", *[n for n, _ in MIGRATIONS][10:]]
    db.conn.close()
    store = Store(path)
    assert store.get_file("f_1")["stale_changes"] == []
    store.update_classification(
        "cls_1", {}, [{"id": "cat_1", "name": "Invoice", "description": "Vendor bills"}]
    )
    assert store.get_file("f_1")["stale_changes"] == [
        "Invoice: description changed",
        "Invoice: keywords changed",
    ]
    assert [r["id"] for r in store.stale_files("cls_1")] == ["f_1"]
