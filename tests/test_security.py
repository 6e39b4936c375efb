"""Hostile requests get a clear 4xx and change nothing: wrong content types, foreign Host
headers, JSON nested too deep, webhook URLs httpx cannot send to, names with invisible
characters or two spellings."""

from __future__ import annotations

import json
import logging
import unicodedata
from dataclasses import replace
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from app.api import create_app
from app.api.security import MAX_JSON_DEPTH, json_depth
from app.settings import Settings

from .conftest import BASE_URL, INBOX, upload
from .test_extractions import INVOICE_FIELDS, create_extraction

HOOK = {"url": "http://127.0.0.1:9000/hook", "events": ["file.classified"]}
CLS, EXT = "/v1/classifications", "/v1/extractions"
# Each JSON endpoint that creates something (and lists it at the same path), with a body.
CREATES = [
    pytest.param(CLS, INBOX, id="classification"),
    pytest.param(EXT, INVOICE_FIELDS, id="extraction"),
    pytest.param("/v1/webhooks", HOOK, id="webhook"),
]
DEEP = "[" * 1000 + "]" * 1000


def error(response: httpx.Response, status: int, code: str) -> str:
    """The error's message, once the status and the one error shape are checked."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]["message"]


async def listed(client: AsyncTestClient, path: str) -> list[Any]:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    (items,) = response.json().values()
    return items


# Content type -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
@pytest.mark.parametrize("path, body", CREATES)
async def test_a_json_body_not_sent_as_json_is_415(client, path, body, content_type):
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post(path, content=json.dumps(body), headers=headers)
    assert "application/json" in error(response, 415, "unsupported_media_type")
    assert await listed(client, path) == []


async def test_a_cross_origin_text_plain_post_creates_no_webhook(client):
    # What `fetch(url, {method: "POST", mode: "no-cors", body})` sends from any web page.
    response = await client.post(
        "/v1/webhooks",
        content=b'{"url": "http://127.0.0.1:9000/hook", "events": ["file.classified"]}',
        headers={"content-type": "text/plain;charset=UTF-8", "origin": "https://evil.example"},
    )
    error(response, 415, "unsupported_media_type")
    assert await listed(client, "/v1/webhooks") == []


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/hook+json"]
)
async def test_json_with_parameters_or_a_json_suffix_is_accepted(client, content_type):
    body = json.dumps(HOOK)
    response = await client.post(
        "/v1/webhooks", content=body, headers={"content-type": content_type}
    )
    assert response.status_code == 201, response.text


async def test_a_patch_not_sent_as_json_changes_nothing(client, inbox):
    url = f"/v1/classifications/{inbox['id']}"
    response = await client.patch(
        url, content=b'{"name": "Renamed"}', headers={"content-type": "text/plain"}
    )
    error(response, 415, "unsupported_media_type")
    assert (await client.get(url)).json()["classification"]["name"] == INBOX["name"]


async def test_an_upload_that_is_not_multipart_is_415(client, settings, inbox):
    ext = await create_extraction(client)
    invoice = inbox["categories"][0]["id"]
    examples = f"/v1/classifications/{inbox['id']}/categories/{invoice}/examples"
    for url in [
        f"/v1/classifications/{inbox['id']}/batches",
        f"/v1/extractions/{ext['id']}/batches",
        examples,
    ]:
        for kwargs in [{"json": {"files": ["a.txt"]}}, {"content": b"a.txt"}]:
            response = await client.post(url, **kwargs)
            assert "multipart/form-data" in error(response, 415, "unsupported_media_type")
        assert await listed(client, url) == []
    assert not list(settings.uploads_dir.rglob("file_*"))


# Host ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.1:8000", "localhost:8000", "LocalHost", "[::1]:8000"]
)
async def test_loopback_hosts_are_served(client, host):
    response = await client.get(CLS, headers={"host": host})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8000", "127.0.0.2", "localhost.evil.example", "::1", ""]
)
async def test_a_foreign_host_is_421_and_changes_nothing(client, host):
    response = await client.post(CLS, json=INBOX, headers={"host": host})
    assert "DOCSORT_ALLOWED_HOSTS" in error(response, 421, "misdirected_request")
    response = await client.get(CLS, headers={"host": host})
    error(response, 421, "misdirected_request")
    assert await listed(client, CLS) == []


async def test_uploads_check_the_host_before_reading_the_body(client, settings, inbox):
    response = await client.post(
        f"/v1/classifications/{inbox['id']}/batches",
        files=[("files", ("a.txt", b"Invoice"))],
        headers={"host": "evil.example"},
    )
    error(response, 421, "misdirected_request")
    assert await listed(client, f"/v1/classifications/{inbox['id']}/batches") == []
    assert not list(settings.uploads_dir.rglob("file_*"))


async def test_the_configured_host_and_allowed_hosts_are_served(settings, store, fake_model):
    settings = replace(settings, host="docsort.lan", allowed_hosts=("box.example", "fd00::1"))
    app = create_app(settings, store, fake_model, run_worker=False)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        for host in ["docsort.lan:8000", "box.example", "[fd00::1]:8000", "localhost"]:
            response = await client.get("/health", headers={"host": host})
            assert response.status_code == 200, (host, response.text)
        error(
            await client.get("/health", headers={"host": "other.example"}),
            421,
            "misdirected_request",
        )


async def test_a_star_serves_any_host(settings, store, fake_model):
    app = create_app(replace(settings, allowed_hosts=("*",)), store, fake_model, run_worker=False)
    async with AsyncTestClient(app=app, base_url="http://anything.example") as client:
        assert (await client.get(CLS)).status_code == 200


def test_allowed_hosts_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("DOCSORT_ALLOWED_HOSTS", " Box.Example, ,docsort.lan ")
    assert Settings.from_env().allowed_hosts == ("box.example", "docsort.lan")
    monkeypatch.delenv("DOCSORT_ALLOWED_HOSTS")
    assert Settings.from_env().allowed_hosts == ()


async def test_no_cors_headers_for_a_preflight_or_a_cross_origin_request(client):
    origin = {"origin": "https://evil.example"}
    preflight = await client.options(
        "/v1/webhooks",
        headers={
            **origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    response = await client.get("/v1/webhooks", headers=origin)
    assert response.status_code == 200
    for answer in (preflight, response):
        assert not [h for h in answer.headers if h.lower().startswith("access-control-")]


@pytest.mark.parametrize("origin", ["https://evil.example", "http://127.0.0.1:3000", "null"])
async def test_a_change_from_another_page_is_403_and_changes_nothing(client, inbox, origin):
    """A form on another site (or another local server's page) posting multipart, or to
    an action without a body: no preflight stops it, the Origin check does."""
    headers = {"origin": origin}
    upload = await client.post(
        f"/v1/classifications/{inbox['id']}/batches",
        files=[("files", ("a.txt", b"Invoice"))],
        headers=headers,
    )
    assert upload.status_code == 403
    assert upload.json()["error"]["code"] == "cross_origin_request"
    hook = await client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/h", "events": ["file.classified"]},
        headers=headers,
    )
    assert hook.status_code == 403
    listed = await client.get(f"/v1/classifications/{inbox['id']}/batches", headers=headers)
    assert listed.status_code == 200 and listed.json()["batches"] == []
    assert (await client.get("/v1/webhooks")).json()["webhooks"] == []


async def test_a_change_from_docsorts_own_page_or_a_script_is_served(client):
    body = {"url": "http://127.0.0.1:9/h", "events": ["file.classified"]}
    own = await client.post("/v1/webhooks", json=body, headers={"origin": "http://127.0.0.1"})
    script = await client.post("/v1/webhooks", json=body)
    assert own.status_code == script.status_code == 201


# JSON nesting -------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [DEEP, '{"name": ' + DEEP + "}", "[" * 100_000])
@pytest.mark.parametrize("path, _", CREATES)
async def test_json_nested_too_deep_is_400_without_a_traceback(client, caplog, path, _, body):
    with caplog.at_level(logging.WARNING):
        response = await client.post(
            path, content=body, headers={"content-type": "application/json"}
        )
    assert str(MAX_JSON_DEPTH) in error(response, 400, "invalid_json")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert await listed(client, path) == []


async def test_deep_patches_are_refused_too(client, inbox):
    url = f"/v1/classifications/{inbox['id']}"
    response = await client.patch(
        url, content='{"categories": ' + DEEP + "}", headers={"content-type": "application/json"}
    )
    error(response, 400, "invalid_json")
    assert (await client.get(url)).json()["classification"] == inbox


@pytest.mark.parametrize("body", ["{bad", '{"name": "x"', "[1,]", "nul", "{}}"])
async def test_malformed_json_is_400(client, body):
    response = await client.post(CLS, content=body, headers={"content-type": "application/json"})
    error(response, 400, "invalid_json")
    assert await listed(client, CLS) == []


async def test_nesting_within_the_limit_is_validated_as_usual(client):
    body = '{"name": ' + "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1) + "}"
    response = await client.post(CLS, content=body, headers={"content-type": "application/json"})
    error(response, 422, "invalid_input")


def test_brackets_inside_strings_do_not_count():
    assert json_depth(b'{"name": "' + b"[" * 1000 + b'"}') == 1
    assert json_depth(b'["\\"' + b"[" * 1000 + b'"]') == 1  # an escaped quote ends nothing
    assert json_depth(b"[" * 65 + b'"' + b"]" * 65) == 65  # an unterminated string: to the end
    assert json_depth(b'"' + b'\\"' * 100_000) == 0  # no string start is scanned twice


# Webhook URLs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:11600/\u0000",
        "http://127.0.0.1:11600/a\u0007b",
        "http://127.0.0.1/a b",
        "http://127.0.0.1/\u200bhook",
        "http://127.0.0.1/\u007f",
        "http://[::1/hook",
    ],
)
async def test_a_url_httpx_cannot_send_to_is_refused(client, url):
    response = await client.post("/v1/webhooks", json={**HOOK, "url": url})
    error(response, 422, "invalid_webhook_url")
    assert await listed(client, "/v1/webhooks") == []


async def classified_event(client: AsyncTestClient, worker: Any) -> None:
    inbox = (await client.post(CLS, json=INBOX)).json()["classification"]
    await upload(client, inbox["id"], {"bill.txt": b"Invoice"})
    await worker.drain()


async def test_a_stored_bad_url_ends_as_a_failed_attempt(client, store, worker, deliverer):
    hook_id = await store.create_webhook(
        "http://127.0.0.1:11600/\u0000", ["file.classified"], "whsec_x"
    )
    await classified_event(client, worker)

    assert await deliverer.drain() == 1
    (delivery,) = (await client.get(f"/v1/webhooks/{hook_id}/deliveries")).json()["deliveries"]
    assert delivery["status"] == "failed"
    (attempt,) = delivery["attempts"]
    assert attempt["status_code"] is None and "control characters" in attempt["error"]


@pytest.mark.parametrize(
    "exc, status",
    [(httpx.InvalidURL("bad"), "failed"), (RuntimeError("boom"), "pending")],
)
async def test_any_error_while_sending_is_a_recorded_attempt(
    client, worker, deliverer, monkeypatch, exc, status
):
    async def post(*args: Any, **kwargs: Any) -> httpx.Response:
        raise exc

    hook = (await client.post("/v1/webhooks", json=HOOK)).json()["webhook"]
    await classified_event(client, worker)
    monkeypatch.setattr(httpx.AsyncClient, "post", post)

    assert await deliverer.drain() == 1
    (delivery,) = (await client.get(f"/v1/webhooks/{hook['id']}/deliveries")).json()["deliveries"]
    assert delivery["status"] == status
    (attempt,) = delivery["attempts"]
    assert attempt["status_code"] is None and str(exc) in attempt["error"]


# Names --------------------------------------------------------------------------------------


def with_category(**category: Any) -> dict[str, Any]:
    return {**INBOX, "categories": [*INBOX["categories"], {"name": "Memo", **category}]}


def field(**spec: Any) -> dict[str, Any]:
    return {**INVOICE_FIELDS, "fields": [{"name": "total", "type": "number", **spec}]}


@pytest.mark.parametrize(
    "path, body",
    [
        pytest.param(CLS, {**INBOX, "name": "Inbox\u0000"}, id="classification name"),
        pytest.param(CLS, with_category(name="Me\u200bmo"), id="category name"),
        pytest.param(CLS, with_category(keywords=["to:\u001b[31m"]), id="keyword"),
        pytest.param(CLS, with_category(description="a\u0000b"), id="category description"),
        pytest.param(CLS, {**INBOX, "description": "a\rb"}, id="classification description"),
        pytest.param(EXT, {**INVOICE_FIELDS, "name": "\u202eInvoice"}, id="extraction name"),
        pytest.param(EXT, field(name="total\u0000"), id="field name"),
        pytest.param(EXT, field(description="\u0008"), id="field description"),
        pytest.param(EXT, field(type="enum", values=["EU\u0085R"]), id="enum value"),
    ],
)
async def test_control_characters_are_refused(client, path, body):
    response = await client.post(path, json=body)
    message = error(response, 422, "invalid_input")
    assert "control" in str(response.json()["error"]["details"]), message
    assert await listed(client, path) == []


async def test_descriptions_keep_line_breaks_and_tabs(client):
    body = with_category(description="Memos:\r\n\tinternal\nnotes ")
    response = await client.post(CLS, json=body)
    assert response.status_code == 201, response.text
    memo = response.json()["classification"]["categories"][-1]
    assert memo["description"] == "Memos:\n\tinternal\nnotes"


async def test_names_are_nfkc_normalised(client):
    nfd = unicodedata.normalize("NFD", "Café")
    body = {
        **INBOX,
        "name": " Ｉｎｂｏｘ ",
        "categories": [{"name": nfd, "keywords": ["ｔｏｔａｌ"]}],
    }
    response = await client.post(CLS, json=body)
    assert response.status_code == 201, response.text
    classification = response.json()["classification"]
    assert classification["name"] == "Inbox"
    assert classification["categories"][0]["name"] == "Café" != nfd
    assert classification["categories"][0]["keywords"] == ["total"]

    body = {**INVOICE_FIELDS, "fields": [{"name": "ｔｏｔａｌ_due", "type": "number"}]}
    extraction = await create_extraction(client, body)
    assert [f["name"] for f in extraction["fields"]] == ["total_due"]


@pytest.mark.parametrize(
    "names, said",
    [
        (["Café", unicodedata.normalize("NFD", "CAFÉ")], "two categories"),
        (["Invoice", "ｎｏｎｅ"], "reserved"),
    ],
)
async def test_one_name_two_spellings_is_a_duplicate_or_reserved(client, names, said):
    body = {**INBOX, "categories": [{"name": n} for n in names]}
    response = await client.post(CLS, json=body)
    error(response, 422, "invalid_input")
    assert said in str(response.json()["error"]["details"])
    assert await listed(client, CLS) == []


async def test_a_patch_checks_names_the_same_way(client, inbox):
    url = f"/v1/classifications/{inbox['id']}"
    for body in [{"name": "x\u0000"}, {"categories": [{"name": "ｎｏｎｅ"}]}]:
        error(await client.patch(url, json=body), 422, "invalid_input")
    assert (await client.get(url)).json()["classification"] == inbox


async def test_field_names_spelt_twice_are_duplicates(client):
    fields = [{"name": "total", "type": "number"}, {"name": "ｔｏｔａｌ", "type": "number"}]
    response = await client.post(EXT, json={**INVOICE_FIELDS, "fields": fields})
    error(response, 422, "invalid_input")
    assert await listed(client, EXT) == []
