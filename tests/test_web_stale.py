"""The stale verdicts page: the files sorted before their categories changed, what changed,
and the one button that runs them again."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import AsyncTestClient

from .conftest import upload

XSS = "<img src=x onerror=alert(1)>.txt"
FILES = {"bill.txt": b"Invoice 42", XSS: b"Invoice 43", "nda.txt": b"Contract between us"}


async def classified(client: AsyncTestClient, worker: Any, cls_id: str) -> dict[str, Any]:
    batch = await upload(client, cls_id, FILES)
    await worker.drain()
    view = await client.get(f"/v1/classifications/{cls_id}/batches/{batch['id']}")
    return {f["file_name"]: f for f in view.json()["files"]}


async def edit(client: AsyncTestClient, cls: dict[str, Any], **changed: dict[str, Any]) -> None:
    categories = [{**c, **changed.get(c["name"], {})} for c in cls["categories"]]
    response = await client.patch(
        f"/v1/classifications/{cls['id']}", json={"categories": categories}
    )
    assert response.status_code == 200, response.text


def listed(html: str) -> list[str]:
    return re.findall(r'<tr data-file-id="([^"]+)"', html)


def count(html: str) -> int:
    return int(re.search(r'id="stale-count">(\d+)<', html).group(1))


def csrf_token(html: str) -> str:
    return re.search(r'name="_csrf_token" value="([^"]+)"', html).group(1)


async def test_the_page_lists_stale_files_grouped_by_what_changed(client, inbox, worker):
    files = await classified(client, worker, inbox["id"])
    base = f"/v1/classifications/{inbox['id']}/files"
    receipt = inbox["categories"][2]
    await client.patch(
        f"{base}/{files['nda.txt']['id']}", json={"classified_category_id": receipt["id"]}
    )
    page = await client.get(f"/classifications/{inbox['id']}/stale")
    assert page.status_code == 200 and count(page.text) == 0
    assert 'id="rerun-stale" disabled' in page.text and "No stale verdicts" in page.text
    await edit(client, inbox, Invoice={"description": "Bills with a total"})
    page = await client.get(f"/classifications/{inbox['id']}/stale")
    assert count(page.text) == 2  # the overridden nda.txt is a person's verdict
    assert set(listed(page.text)) == {files["bill.txt"]["id"], files[XSS]["id"]}
    assert page.text.count('class="stale-group"') == 1
    assert "<li>Invoice: description changed</li>" in page.text
    assert XSS not in page.text and "&lt;img src=x onerror=alert(1)&gt;.txt" in page.text
    # Another change later: files sorted in between form a group of their own.
    later = await upload(client, inbox["id"], {"later.txt": b"Contract, sorted in between"})
    await worker.drain()
    await edit(client, inbox, Invoice={"name": "<b>x</b>", "description": "Bills with a total"})
    page = await client.get(f"/classifications/{inbox['id']}/stale")
    assert count(page.text) == 3 and page.text.count('class="stale-group"') == 2
    assert page.text.count("<li>Invoice → &lt;b&gt;x&lt;/b&gt;: renamed</li>") == 2
    assert page.text.count("<li>&lt;b&gt;x&lt;/b&gt;: description changed</li>") == 1
    assert "<b>x</b>" not in page.text
    (later_file,) = (
        await client.get(f"/v1/classifications/{inbox['id']}/batches/{later['id']}")
    ).json()["files"]
    assert later_file["stale_changes"] == ["Invoice → <b>x</b>: renamed"]


async def test_the_button_reruns_them_with_the_csrf_token_only(client, inbox, worker):
    files = await classified(client, worker, inbox["id"])
    await edit(client, inbox, Contract={"keywords": ["agreement", "signed"]})
    url = f"/classifications/{inbox['id']}/stale"
    page = await client.get(url)
    assert count(page.text) == 3
    assert f'action="/classifications/{inbox["id"]}/stale/redo"' in page.text
    refused = await client.post(f"{url}/redo", data={}, follow_redirects=False)
    assert refused.status_code == 403
    bill = await client.get(f"/v1/classifications/{inbox['id']}/files/{files['bill.txt']['id']}")
    assert bill.json()["file"]["status"] == "processed" and bill.json()["file"]["stale"]
    response = await client.post(
        f"{url}/redo", data={"_csrf_token": csrf_token(page.text)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{url}?requeued=3"
    bill = await client.get(f"/v1/classifications/{inbox['id']}/files/{files['bill.txt']['id']}")
    assert bill.json()["file"]["status"] == "queued"
    after = await client.get(response.headers["location"])
    assert 'id="flash"' in after.text and "3 files queued for a fresh run" in after.text
    assert count(after.text) == 0
    await worker.drain()
    bill = await client.get(f"/v1/classifications/{inbox['id']}/files/{files['bill.txt']['id']}")
    assert bill.json()["file"]["status"] == "processed" and not bill.json()["file"]["stale"]


async def test_an_unknown_classification_is_a_404_page(client, inbox):
    page = await client.get("/classifications/cls_unknown/stale")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    token = csrf_token((await client.get(f"/classifications/{inbox['id']}/stale")).text)
    response = await client.post(
        "/classifications/cls_unknown/stale/redo",
        data={"_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 404
