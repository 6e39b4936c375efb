"""The upload page and the live batch page: limits shown, the form without JavaScript posting
through the API's upload, the first render of a batch, the time left, and escaping."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from litestar.testing import AsyncTestClient

from app.web.batches import seconds_left, time_left_text

from .conftest import upload

XSS = "<img src=x onerror=alert(1)>.txt"


def cell(html: str, file_id: str, name: str) -> str:
    row = re.search(rf'<tr data-file-id="{file_id}"[^>]*>(.*?)</tr>', html, re.S)
    assert row, f"no row for {file_id}"
    found = re.search(rf'<td class="{name}">(.*?)</td>', row.group(1), re.S)
    assert found, f"no {name} cell"
    return unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert found, f"no #{element_id}"
    return unescape(found.group(1)).strip()


async def upload_form_action(client: AsyncTestClient, cls_id: str) -> str:
    page = await client.get(f"/classifications/{cls_id}/upload")
    assert page.status_code == 200
    action = re.search(r'<form id="upload-form"[^>]* action="([^"]+)"', page.text)
    assert action
    return unescape(action.group(1))


async def test_upload_page_shows_the_limits_and_the_elements(
    client: AsyncTestClient, inbox: dict[str, Any]
) -> None:
    page = await client.get(f"/classifications/{inbox['id']}/upload")
    assert page.status_code == 200
    html = page.text
    assert "Up to 30 files a batch, 25 MB each." in html
    assert f'data-api-url="/v1/classifications/{inbox["id"]}/batches"' in html
    for element in ('id="drop-zone"', 'id="upload"', 'id="upload-progress"', 'id="upload-error"'):
        assert element in html
    assert '<input type="file" multiple name="files" id="files"' in html
    assert '<script src="/static/upload.js"' in html


async def test_upload_page_of_an_unknown_classification_is_a_404(
    client: AsyncTestClient,
) -> None:
    response = await client.get("/classifications/cls_nope/upload")
    assert response.status_code == 404
    assert "no classification" in response.text


async def test_the_form_without_javascript_uploads_through_the_api(
    client: AsyncTestClient, inbox: dict[str, Any]
) -> None:
    action = await upload_form_action(client, inbox["id"])
    parts = [
        ("files", ("a.txt", b"an invoice for you", "text/plain")),
        ("files", ("b.txt", b"a contract", "text/plain")),
    ]
    response = await client.post(action, files=parts, follow_redirects=False)
    assert response.status_code == 303
    match = re.fullmatch(
        rf"/classifications/{inbox['id']}/batches/(cbtc_\w+)", response.headers["location"]
    )
    assert match
    shown = await client.get(f"/v1/classifications/{inbox['id']}/batches/{match.group(1)}")
    assert sorted(f["file_name"] for f in shown.json()["files"]) == ["a.txt", "b.txt"]
    page = await client.get(f"/classifications/{inbox['id']}/upload")
    assert f'data-batch-id="{match.group(1)}"' in page.text  # listed as an earlier batch


async def test_the_form_without_its_token_uploads_nothing(
    client: AsyncTestClient, inbox: dict[str, Any]
) -> None:
    action = await upload_form_action(client, inbox["id"])
    parts = [("files", ("a.txt", b"hello", "text/plain"))]
    for url in (action.partition("?")[0], action[:-4] + "abcd"):
        response = await client.post(url, files=parts, follow_redirects=False)
        assert response.status_code == 403
    batches = await client.get(f"/v1/classifications/{inbox['id']}/batches")
    assert batches.json()["batches"] == []


async def test_the_forms_upload_errors_show_on_the_page(
    client: AsyncTestClient, inbox: dict[str, Any]
) -> None:
    action = await upload_form_action(client, inbox["id"])
    parts = [("files", (f"f{i}.txt", b"x", "text/plain")) for i in range(31)]
    response = await client.post(action, files=parts, follow_redirects=False)
    api = await client.post(f"/v1/classifications/{inbox['id']}/batches", files=parts)
    assert response.status_code == api.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert text_of(response.text, "upload-error") == api.json()["error"]["message"]
    assert "at most 30 files" in api.json()["error"]["message"]
    batches = await client.get(f"/v1/classifications/{inbox['id']}/batches")
    assert batches.json()["batches"] == []


async def test_batch_page_shows_the_batch_then_its_verdicts(
    client: AsyncTestClient, inbox: dict[str, Any], worker: Any
) -> None:
    batch = await upload(
        client,
        inbox["id"],
        {"invoice.txt": b"Invoice no. 7, total due", XSS: b"nothing to see", "empty.txt": b""},
    )
    url = f"/classifications/{inbox['id']}/batches/{batch['id']}"
    page = await client.get(url)
    assert page.status_code == 200
    html = page.text
    assert text_of(html, "batch-status") == "queued"
    assert text_of(html, "count-queued") == "3"
    assert text_of(html, "count-processed") == "0"
    assert text_of(html, "time-left") == "estimating the time left…"
    assert f'data-api-url="/v1/classifications/{inbox["id"]}/batches/{batch["id"]}"' in html
    assert f'href="/classifications/{inbox["id"]}/review?batch={batch["id"]}"' in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;.txt" in html

    await worker.drain()
    files = (await client.get(f"/v1{url}")).json()["files"]
    by_name = {f["file_name"]: f for f in files}
    html = (await client.get(url)).text
    assert text_of(html, "batch-status") == "processed"
    assert text_of(html, "count-queued") == "0"
    assert int(text_of(html, "count-processed")) + int(text_of(html, "count-failed")) == 3
    assert text_of(html, "time-left") == "nothing left to do"
    invoice = by_name["invoice.txt"]
    assert cell(html, invoice["id"], "file-status") == "processed"
    assert cell(html, invoice["id"], "file-verdict") == "Invoice"
    assert cell(html, invoice["id"], "file-confidence") == f"{round(invoice['confidence'] * 100)} %"
    other = by_name[XSS]
    assert cell(html, other["id"], "file-verdict") == "none"
    failed = [f for f in files if f["status"] == "failed"]
    for f in failed:  # a failed file shows its error
        assert f["error"] and f["error"] in cell(html, f["id"], "file-name")


async def test_a_batch_of_another_classification_is_a_404(
    client: AsyncTestClient, inbox: dict[str, Any]
) -> None:
    batch = await upload(client, inbox["id"], {"a.txt": b"hello"})
    other = await client.post(
        "/v1/classifications", json={"name": "Other", "categories": [{"name": "X"}]}
    )
    other_id = other.json()["classification"]["id"]
    response = await client.get(f"/classifications/{other_id}/batches/{batch['id']}")
    assert response.status_code == 404


def test_time_left_is_the_median_finished_time_by_the_files_left() -> None:
    def f(status: str, seconds: float | None = None) -> dict[str, Any]:
        started = "2026-01-01T00:00:00.000Z"
        finished = None if seconds is None else f"2026-01-01T00:00:{seconds:06.3f}Z"
        return {"status": status, "started_at": started, "finished_at": finished}

    files = [f("processed", 2), f("failed", 4), f("processed", 30), f("queued"), f("processing")]
    assert seconds_left(files) == 8.0  # median 4 s x 2 left
    assert seconds_left([f("queued"), f("queued")]) is None
    assert seconds_left([f("processed", 1)]) == 0
    assert time_left_text(8.0) == "about 8 s left"
    assert time_left_text(600) == "about 10 min left"
