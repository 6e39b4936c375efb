"""The classification form: the API's validation, its errors next to the field at fault,
CSRF, and the API seeing what the form saved."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from litestar.testing import AsyncTestClient

XSS = "<img src=x onerror=alert(1)>"


async def csrf_token(client: AsyncTestClient, url: str) -> str:
    page = await client.get(url)
    assert page.status_code == 200, page.text
    match = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert match, "the form has no CSRF token"
    return match.group(1)


async def submit(client: AsyncTestClient, url: str, fields: dict[str, str]) -> Any:
    token = await csrf_token(client, url)
    return await client.post(url, data={"_csrf_token": token, **fields}, follow_redirects=False)


def field_error(html: str, key: str) -> str | None:
    """The error shown next to the input `key`, which must be marked invalid for it."""
    match = re.search(rf'<p class="error" id="{re.escape(key)}-error">([^<]*)</p>', html)
    if match is None:
        return None
    tag = re.search(rf'<(?:input|textarea|select)[^>]* id="{re.escape(key)}"[^>]*>', html)
    if key == "categories":  # about the list, shown above it
        return unescape(match.group(1))
    assert tag, f"no input {key}"
    assert 'aria-invalid="true"' in tag.group(0)
    assert f'aria-describedby="{key}-error"' in tag.group(0)
    return unescape(match.group(1))


def input_value(html: str, key: str) -> str:
    tag = re.search(rf'<input[^>]* id="{re.escape(key)}"[^>]*>', html)
    assert tag, f"no input {key}"
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return unescape(value.group(1)) if value else ""


async def test_new_form_creates_a_classification_the_api_sees(client: AsyncTestClient) -> None:
    page = await client.get("/classifications/new")
    assert page.status_code == 200
    for key in ("name", "description", "categories-0-name", "categories-2-keywords"):
        assert f'id="{key}"' in page.text
    assert 'id="classification-form"' in page.text and 'id="save"' in page.text
    response = await submit(
        client,
        "/classifications/new",
        {
            "name": "Post",
            "description": "The morning mail",
            "categories-0-name": "Invoice",
            "categories-0-keywords": "invoice, total due, ,",
            "categories-0-description": "Bills",
            "categories-0-linked_extraction_id": "",
            "categories-1-name": "",
            "categories-1-keywords": "",
            "categories-1-description": "",
            "categories-2-name": "Letter",
        },
    )
    assert response.status_code == 303
    cls_id = re.fullmatch(r"/classifications/(cls_\w+)/review", response.headers["location"])
    assert cls_id
    shown = (await client.get(f"/v1/classifications/{cls_id.group(1)}")).json()["classification"]
    assert shown["name"] == "Post" and shown["description"] == "The morning mail"
    assert [(c["name"], c["keywords"]) for c in shown["categories"]] == [
        ("Invoice", ["invoice", "total due"]),
        ("Letter", []),
    ]


async def test_a_browsers_post_keeps_its_origin(client: AsyncTestClient) -> None:
    """Under Referrer-Policy no-referrer a browser sends `Origin: null` with a form's post,
    which the Origin check refuses: the pages must not send that policy."""
    page = await client.get("/classifications/new")
    assert page.headers["referrer-policy"] == "same-origin"
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert token
    fields = {"_csrf_token": token.group(1), "name": "O", "categories-0-name": "A"}
    same = await client.post(
        "/classifications/new",
        data=fields,
        headers={"origin": "http://127.0.0.1"},
        follow_redirects=False,
    )
    assert same.status_code == 303
    null = await client.post(
        "/classifications/new", data=fields, headers={"origin": "null"}, follow_redirects=False
    )
    assert null.status_code == 403


async def test_a_post_without_the_csrf_token_is_refused(client: AsyncTestClient) -> None:
    await client.get("/classifications/new")  # the cookie is set; the token is not sent
    response = await client.post(
        "/classifications/new", data={"name": "Sneaky", "categories-0-name": "A"}
    )
    assert response.status_code == 403
    assert (await client.get("/v1/classifications")).json()["classifications"] == []


async def test_errors_show_next_to_their_field_with_what_was_typed(
    client: AsyncTestClient,
) -> None:
    response = await submit(
        client,
        "/classifications/new",
        {
            "name": "   ",
            "description": f"keeps {XSS}",
            "categories-0-name": "",
            "categories-0-description": "a description but no name",
            "categories-1-name": "Fine",
            "categories-2-name": "Bad\x01name",
            "categories-3-name": "Keyworded",
            "categories-3-keywords": "good, bad\x02word",
        },
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert field_error(html, "name")
    assert field_error(html, "categories-0-name")
    assert field_error(html, "categories-1-name") is None
    assert "control or invisible" in (field_error(html, "categories-2-name") or "")
    assert "bad\x02word" in (field_error(html, "categories-3-keywords") or "")
    assert field_error(html, "description") is None
    # what the user typed is kept, escaped
    assert input_value(html, "categories-1-name") == "Fine"
    assert input_value(html, "categories-3-keywords") == "good, bad\x02word"
    assert f"keeps {XSS}" not in html and "keeps &lt;img src=x onerror=alert(1)&gt;" in html
    assert (await client.get("/v1/classifications")).json()["classifications"] == []


async def test_form_errors_are_the_apis(client: AsyncTestClient) -> None:
    api = await client.post(
        "/v1/classifications", json={"name": "x", "categories": [{"name": "a" * 101}]}
    )
    api_message = api.json()["error"]["details"][0]["message"]
    form = await submit(
        client, "/classifications/new", {"name": "x", "categories-0-name": "a" * 101}
    )
    assert form.status_code == 422
    assert field_error(form.text, "categories-0-name") == api_message


async def test_errors_of_the_whole_form_go_on_top(client: AsyncTestClient) -> None:
    duplicate = await submit(
        client,
        "/classifications/new",
        {"name": "Dup", "categories-0-name": "Same", "categories-1-name": "same"},
    )
    assert duplicate.status_code == 422
    top = re.search(r'id="form-errors".*?</div>', duplicate.text, re.S)
    assert top and "two categories are named" in unescape(top.group(0))

    empty = await submit(client, "/classifications/new", {"name": "Nothing"})
    assert empty.status_code == 422
    assert field_error(empty.text, "categories")

    linked = await submit(
        client,
        "/classifications/new",
        {"name": "L", "categories-0-name": "A", "categories-0-linked_extraction_id": "ext_nope"},
    )
    assert linked.status_code == 422
    assert "no extraction with id ext_nope" in linked.text
    assert "unknown: ext_nope" in linked.text  # the choice is kept, visibly


async def test_more_adds_empty_rows_and_keeps_the_data(client: AsyncTestClient) -> None:
    response = await submit(
        client,
        "/classifications/new",
        {"name": "Growing", "categories-0-name": "One", "more": "1"},
    )
    assert response.status_code == 200
    assert input_value(response.text, "name") == "Growing"
    assert input_value(response.text, "categories-0-name") == "One"
    assert 'id="categories-3-name"' in response.text  # the row sent, plus three
    assert (await client.get("/v1/classifications")).json()["classifications"] == []


async def test_edit_form_updates_keeps_ids_and_removes(
    client: AsyncTestClient, inbox: dict[str, Any]
) -> None:
    extraction = await client.post(
        "/v1/extractions",
        json={"name": "Invoice fields", "fields": [{"name": "total", "type": "number"}]},
    )
    assert extraction.status_code == 201, extraction.text
    ext_id = extraction.json()["extraction"]["id"]
    url = f"/classifications/{inbox['id']}/edit"
    page = await client.get(url)
    assert page.status_code == 200
    invoice, contract, receipt = inbox["categories"]
    assert input_value(page.text, "name") == inbox["name"]
    assert input_value(page.text, "categories-0-id") == invoice["id"]
    assert input_value(page.text, "categories-0-keywords") == "invoice, bill to, total due"
    assert 'id="categories-3-name"' in page.text  # an empty row after the three
    assert f'<option value="{ext_id}">Invoice fields</option>' in page.text

    response = await submit(
        client,
        url,
        {
            "name": "Inbox, renamed",
            "description": inbox["description"],
            "categories-0-id": invoice["id"],
            "categories-0-name": "Bill",
            "categories-0-keywords": "bill",
            "categories-0-linked_extraction_id": ext_id,
            "categories-1-id": contract["id"],
            "categories-1-name": contract["name"],
            "categories-1-remove": "1",
            "categories-2-id": receipt["id"],
            "categories-2-name": receipt["name"],
            "categories-2-description": receipt["description"],
            "categories-3-name": "Letter",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/classifications/{inbox['id']}/review"
    shown = (await client.get(f"/v1/classifications/{inbox['id']}")).json()["classification"]
    assert shown["name"] == "Inbox, renamed"
    cats = shown["categories"]
    assert [c["name"] for c in cats] == ["Bill", "Receipt", "Letter"]
    assert cats[0]["id"] == invoice["id"] and cats[0]["linked_extraction_id"] == ext_id
    assert cats[0]["keywords"] == ["bill"]
    assert cats[1]["id"] == receipt["id"]
    page = await client.get(url)
    assert f'<option value="{ext_id}" selected>Invoice fields</option>' in page.text


async def test_edit_refuses_a_category_of_another_classification(
    client: AsyncTestClient, inbox: dict[str, Any]
) -> None:
    other = await client.post(
        "/v1/classifications", json={"name": "Other", "categories": [{"name": "X"}]}
    )
    foreign = other.json()["classification"]["categories"][0]["id"]
    response = await submit(
        client,
        f"/classifications/{inbox['id']}/edit",
        {"name": "Inbox", "categories-0-id": foreign, "categories-0-name": "X"},
    )
    assert response.status_code == 422
    assert "category ids not in this classification" in response.text
    shown = (await client.get(f"/v1/classifications/{inbox['id']}")).json()["classification"]
    assert len(shown["categories"]) == 3


async def test_names_are_escaped_in_the_edit_form(client: AsyncTestClient) -> None:
    created = await client.post(
        "/v1/classifications",
        json={"name": f"N {XSS}", "categories": [{"name": f"C {XSS}", "keywords": [XSS]}]},
    )
    cls_id = created.json()["classification"]["id"]
    page = await client.get(f"/classifications/{cls_id}/edit")
    assert page.status_code == 200
    assert XSS not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text


async def test_an_unknown_classification_is_a_404_page(client: AsyncTestClient) -> None:
    response = await client.get("/classifications/cls_nope/edit")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
