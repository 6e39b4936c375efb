"""The review queue page: order, filters, pages, the selected file's detail, the checks made
from it (CSRF-protected forms that redirect to the next file) and escaping."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

from litestar.testing import AsyncTestClient

from app.store import AsyncStore

from .conftest import upload
from .documents import pdf_bytes

XSS_NAME = "<img src=x onerror=alert(1)>.txt"


async def classify(
    store: AsyncStore,
    verdicts: list[tuple[str | None, float] | str],
    reasoning: str = "It reads like one.",
    evidence: dict[str, Any] | None = None,
) -> None:
    """Give the queued files, in upload order, these machine verdicts ((category id, confidence),
    or "fail"), as the worker would."""
    for verdict in verdicts:
        claimed = await store.claim_file("test-owner")
        assert claimed is not None
        if verdict == "fail":
            await store.record_failure(claimed["id"], claimed["run_token"], "could not read it")
            continue
        category_id, confidence = verdict
        recorded = await store.record_verdict(
            claimed["id"],
            claimed["run_token"],
            category_id,
            confidence,
            reasoning,
            "fake-model",
            evidence=evidence,
        )
        assert recorded


async def seed(
    client: AsyncTestClient, store: AsyncStore, cls_id: str, names: list[str]
) -> list[dict[str, Any]]:
    """Upload files named `names` (in batches of up to 30), returned in upload order: the
    order the worker (and `classify`) takes them in."""
    files = []
    for start in range(0, len(names), 30):
        part = names[start : start + 30]
        batch = await upload(client, cls_id, {n: f"text of {n}\n".encode() for n in part})
        listed = await client.get(f"/v1/classifications/{cls_id}/batches/{batch['id']}")
        files += sorted(listed.json()["files"], key=lambda f: part.index(f["file_name"]))
    return files


def queue_ids(html: str) -> list[str]:
    return re.findall(r'class="queue-row[^"]*"\s+data-file-id="([^"]+)"', html)


def selected_id(html: str) -> str | None:
    match = re.search(r'data-file-id="([^"]+)"\s+data-url="[^"]*"\s+aria-selected="true"', html)
    return match and match.group(1)


def detail_id(html: str) -> str | None:
    match = re.search(r'<section id="detail"[^>]*data-file-id="([^"]+)"', html)
    return match and match.group(1)


def csrf_token(html: str) -> str:
    return re.search(r'name="_csrf_token" value="([^"]+)"', html).group(1)


def form_action(html: str, action: str) -> str:
    """The action URL of the selected file's `action` form, unescaped."""
    return unescape(re.search(rf'action="([^"]+/{action}(?:\?[^"]*)?)"', html).group(1))


async def post_form(client: AsyncTestClient, url: str, data: dict[str, str]) -> Any:
    return await client.post(url, data=data, follow_redirects=False)


def redirect_params(response: Any) -> dict[str, str]:
    assert response.status_code == 303, response.text
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


def cat(inbox: dict[str, Any], name: str) -> str:
    return next(c["id"] for c in inbox["categories"] if c["name"] == name)


async def test_the_queue_puts_the_least_sure_first(
    client: AsyncTestClient, store: AsyncStore, inbox: dict[str, Any]
) -> None:
    files = await seed(client, store, inbox["id"], [f"f{i}.txt" for i in range(7)])
    ids = [f["id"] for f in files]
    invoice = cat(inbox, "Invoice")
    # f0 .9, f1 failed, f2 .4, f3 .7 (then confirmed), f4 .2 (then overridden), f5 .6; f6 queued
    await classify(
        store, [(invoice, 0.9), "fail", (invoice, 0.4), (invoice, 0.7), (invoice, 0.2), (None, 0.6)]
    )
    await client.post(f"/v1/classifications/{inbox['id']}/files/{ids[3]}/confirm")
    await client.patch(
        f"/v1/classifications/{inbox['id']}/files/{ids[4]}", json={"classified_category_id": None}
    )
    response = await client.get(f"/classifications/{inbox['id']}/review")
    assert response.status_code == 200
    expected = [ids[1], ids[2], ids[5], ids[0], ids[6], ids[3], ids[4]]
    assert queue_ids(response.text) == expected
    assert selected_id(response.text) == detail_id(response.text) == ids[1]
    assert "least sure first" in response.text


async def test_examples_are_not_in_the_queue(
    client: AsyncTestClient, store: AsyncStore, inbox: dict[str, Any]
) -> None:
    files = await seed(client, store, inbox["id"], ["mine.txt"])
    response = await client.post(
        f"/v1/classifications/{inbox['id']}/categories/{cat(inbox, 'Invoice')}/examples",
        files=[("files", ("example.txt", b"an invoice example", "text/plain"))],
    )
    assert response.status_code == 202, response.text
    page = await client.get(f"/classifications/{inbox['id']}/review")
    assert queue_ids(page.text) == [files[0]["id"]]
    assert "example.txt" not in page.text


async def test_filters_narrow_the_queue(
    client: AsyncTestClient, store: AsyncStore, inbox: dict[str, Any]
) -> None:
    first = await seed(client, store, inbox["id"], ["a.txt", "b.txt", "c.txt"])
    second = await seed(client, store, inbox["id"], ["d.txt"])
    a, b, c, d = (f["id"] for f in [*first, *second])
    invoice, contract = cat(inbox, "Invoice"), cat(inbox, "Contract")
    await classify(store, [(invoice, 0.9), (None, 0.5), "fail", (contract, 0.3)])
    await client.patch(
        f"/v1/classifications/{inbox['id']}/files/{d}", json={"classified_category_id": invoice}
    )
    url = f"/classifications/{inbox['id']}/review"

    async def ids(**params: str) -> set[str]:
        response = await client.get(url, params=params)
        assert response.status_code == 200
        return set(queue_ids(response.text))

    assert await ids() == {a, b, c, d}
    assert await ids(category=invoice) == {a, d}  # the override counts, not the model's
    assert await ids(category="none") == {b}
    assert await ids(status="failed") == {c}
    assert await ids(status="overridden") == {d}
    assert await ids(status="unchecked") == {a, b, c}
    assert await ids(below="0.6") == {b}  # d's 0.3 is the model's, overridden
    assert await ids(batch=first[0]["batch_id"]) == {a, b, c}
    assert await ids(category=invoice, status="unchecked") == {a}
    # What a form sends when a field is left empty is no filter.
    assert await ids(category="", status="", below="", batch="") == {a, b, c, d}
    shown = await client.get(url, params={"category": invoice})
    assert re.search(rf'<option value="{invoice}"\s+selected', shown.text)
    unfiltered = (await client.get(url)).text
    form = unfiltered[unfiltered.index('<form id="filters"') : unfiltered.index("</form>")]
    assert not re.search(r"\s(selected|checked)[\s>]", form)


async def test_a_filter_it_cannot_read_is_said_and_dropped(
    client: AsyncTestClient, store: AsyncStore, inbox: dict[str, Any]
) -> None:
    await seed(client, store, inbox["id"], ["a.txt"])
    response = await client.get(
        f"/classifications/{inbox['id']}/review", params={"below": "lots", "status": "odd"}
    )
    assert response.status_code == 200
    assert len(queue_ids(response.text)) == 1
    assert "a confidence between 0 and 1" in response.text
    assert 'aria-invalid="true"' in response.text
    assert "status is one of" in response.text


async def test_stale_filter_lists_verdicts_made_with_other_definitions(
    client: AsyncTestClient, store: AsyncStore, inbox: dict[str, Any]
) -> None:
    files = await seed(client, store, inbox["id"], ["a.txt", "b.txt"])
    await classify(store, [(cat(inbox, "Invoice"), 0.9), (cat(inbox, "Receipt"), 0.8)])
    await client.patch(
        f"/v1/classifications/{inbox['id']}/files/{files[1]['id']}",
        json={"classified_category_id": None},
    )
    categories = [{**c, "keywords": c["keywords"] + ["amount due"]} for c in inbox["categories"]]
    response = await client.patch(
        f"/v1/classifications/{inbox['id']}", json={"categories": categories}
    )
    assert response.status_code == 200, response.text
    page = await client.get(f"/classifications/{inbox['id']}/review", params={"stale": "1"})
    assert queue_ids(page.text) == [files[0]["id"]]  # an override is never stale
    assert 'name="stale" value="1" checked' in page.text
    assert '<span class="flag stale">stale</span>' in page.text
    detail = page.text[page.text.index('id="detail"') :]
    assert "<li>Invoice: keywords changed</li>" in detail


async def test_a_long_queue_is_paged(
    client: AsyncTestClient, store: AsyncStore, inbox: dict[str, Any]
) -> None:
    files = await seed(client, store, inbox["id"], [f"f{i:03}.txt" for i in range(120)])
    invoice = cat(inbox, "Invoice")
    await classify(store, [(invoice, i / 1000) for i in range(120)])  # already least sure first
    url = f"/classifications/{inbox['id']}/review"
    first = await client.get(url)
    assert queue_ids(first.text) == [f["id"] for f in files[:50]]
    assert "Page 1 of 3" in first.text
    assert 'id="next-page"' in first.text and 'id="previous-page"' not in first.text
    last = await client.get(url, params={"page": "3"})
    assert queue_ids(last.text) == [f["id"] for f in files[100:]]
    assert selected_id(last.text) == files[100]["id"]
    beyond = await client.get(url, params={"page": "9"})
    assert queue_ids(beyond.text) == queue_ids(last.text)
    # A file selected without a page opens the page it is on.
    deep = await client.get(url, params={"selected": files[73]["id"]})
    assert "Page 2 of 3" in deep.text
    assert selected_id(deep.text) == files[73]["id"]


async def test_the_detail_shows_why(
    client: AsyncTestClient, store: AsyncStore, inbox: dict[str, Any]
) -> None:
    files = await seed(client, store, inbox["id"], ["bill.txt"])
    example = await client.post(
        f"/v1/classifications/{inbox['id']}/categories/{cat(inbox, 'Invoice')}/examples",
        files=[("files", ("known-invoice.txt", b"invoice total due", "text/plain"))],
    )
    example_id = example.json()["examples"][0]["id"]
    evidence = {
        "decided_by": "examples",
        "keywords_found": {"Invoice": ["invoice", "total due"]},
        "language": "de",
        "familiarity": 0.031,
        "examples": {
            "count": 1,
            "probabilities": {"Invoice": 0.99},
            "nearest": [
                {
                    "file_id": example_id,
                    "file_name": "known-invoice.txt",
                    "category": "Invoice",
                    "similarity": 0.91,
                }
            ],
        },
    }
    claimed = await store.claim_file("test-owner")  # the bill, queued first
    await store.record_verdict(
        claimed["id"], claimed["run_token"], cat(inbox, "Invoice"), 0.97,
        "Like 1 of the 1 nearest files filed as Invoice.", "fake-model",
        evidence=evidence, source="examples",
    )  # fmt: skip
    page = await client.get(f"/classifications/{inbox['id']}/review")
    detail = page.text[page.text.index('id="detail"') :]
    assert detail_id(page.text) == files[0]["id"]
    assert "decided by examples" in detail
    assert re.search(r'<meter[^>]*value="0.97"', detail)
    assert "Like 1 of the 1 nearest files filed as Invoice." in detail
    assert '<span class="keyword">total due</span>' in detail
    assert re.search(r'<p id="language" [^>]*>Reads as German,.*counted\s+3%', detail, re.S)
    assert (
        f'<a href="/v1/classifications/{inbox["id"]}/categories/{cat(inbox, "Invoice")}/examples">'
        "known-invoice.txt</a>" in detail
    )
    assert '<pre id="preview-text" class="preview-text">text of bill.txt</pre>' in detail
    # Category buttons are numbered for the keys; none has its own.
    for number, category in enumerate(inbox["categories"], start=1):
        assert re.search(rf'data-category-id="{category["id"]}"\s+data-key="{number}"', detail), (
            category
        )
    assert 'id="change-none"' in detail and 'id="confirm"' in detail and 'id="redo"' in detail
    assert '<script src="/static/review.js" defer></script>' in page.text


async def test_the_detail_shows_the_chained_extraction(
    client: AsyncTestClient, store: AsyncStore, inbox: dict[str, Any], worker: Any
) -> None:
    extraction = await client.post(
        "/v1/extractions",
        json={
            "name": "Invoice fields",
            "fields": [{"name": "vendor", "type": "string"}, {"name": "total", "type": "string"}],
        },
    )
    assert extraction.status_code == 201, extraction.text
    categories = [
        {**c, "linked_extraction_id": extraction.json()["extraction"]["id"]}
        if c["name"] == "Invoice"
        else c
        for c in inbox["categories"]
    ]
    await client.patch(f"/v1/classifications/{inbox['id']}", json={"categories": categories})
    await upload(client, inbox["id"], {"bill.txt": b"Invoice\nvendor: <b>Acme</b>\ntotal: 12\n"})
    await worker.drain()
    page = await client.get(f"/classifications/{inbox['id']}/review")
    assert "<th>vendor</th><td>&lt;b&gt;Acme&lt;/b&gt;</td>" in page.text
    assert "<b>Acme</b>" not in page.text
    assert 'id="language"' not in page.text  # too short to be another language


async def test_a_pdf_is_previewed_as_an_image(
    client: AsyncTestClient, store: AsyncStore, inbox: dict[str, Any]
) -> None:
    batch = await upload(client, inbox["id"], {"scan.pdf": pdf_bytes("INVOICE 42")})
    page = await client.get(f"/classifications/{inbox['id']}/review")
    file_id = queue_ids(page.text)[0]
    assert batch["id"]
    assert (
        f'<img id="preview" class="preview" src="/classifications/{inbox["id"]}/files/{file_id}'
        '/preview.png"' in page.text
    )
    assert 'id="preview-text"' not in page.text


async def test_names_and_reasoning_are_text(
    client: AsyncTestClient, store: AsyncStore, inbox: dict[str, Any]
) -> None:
    await seed(client, store, inbox["id"], [XSS_NAME])
    reasoning = "<script>alert('r')</script> it is <b>bold</b>"
    evidence = {
        "keywords_found": {"<i>Invoice</i>": ["<u>bill</u>"]},
        "language": "<s>xx</s>",
        "familiarity": 0.2,
    }
    await classify(store, [(cat(inbox, "Invoice"), 0.5)], reasoning=reasoning, evidence=evidence)
    page = await client.get(f"/classifications/{inbox['id']}/review")
    assert page.status_code == 200
    assert "<img src=x" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in page.text
    assert "<script>alert" not in page.text and "<b>bold</b>" not in page.text
    assert "&lt;script&gt;alert(&#39;r&#39;)&lt;/script&gt;" in page.text
    assert "<i>Invoice</i>" not in page.text and "<u>bill</u>" not in page.text
    assert "<s>xx</s>" not in page.text and "Reads as &lt;s&gt;xx&lt;/s&gt;," in page.text
    assert "text of &lt;img src=x onerror=alert(1)&gt;.txt" in page.text  # the opening text
    assert "default-src 'none'" in page.headers["content-security-policy"]


async def test_unknown_classification_is_a_404_page(client: AsyncTestClient) -> None:
    response = await client.get("/classifications/cls_nope/review")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]


# The checks -------------------------------------------------------------------------------


async def test_a_check_without_the_csrf_token_is_refused(
    client: AsyncTestClient, store: AsyncStore, inbox: dict[str, Any]
) -> None:
    files = await seed(client, store, inbox["id"], ["a.txt"])
    await classify(store, [(cat(inbox, "Invoice"), 0.5)])
    await client.get(f"/classifications/{inbox['id']}/review")  # the cookie, not the token
    response = await post_form(
        client, f"/classifications/{inbox['id']}/files/{files[0]['id']}/confirm", {}
    )
    assert response.status_code == 403
    shown = await client.get(f"/v1/classifications/{inbox['id']}/files/{files[0]['id']}")
    assert shown.json()["file"]["checked_at"] is None


async def test_confirm_checks_the_file_and_moves_to_the_next(
    client: AsyncTestClient, store: AsyncStore, inbox: dict[str, Any]
) -> None:
    files = await seed(client, store, inbox["id"], ["a.txt", "b.txt", "c.txt"])
    invoice = cat(inbox, "Invoice")
    await classify(store, [(invoice, 0.2), (invoice, 0.5), (invoice, 0.8)])
    a, b = files[0]["id"], files[1]["id"]
    url = f"/classifications/{inbox['id']}/review"
    page = await client.get(url, params={"status": "unchecked", "selected": a})
    action = form_action(page.text, "confirm")
    assert action == f"/classifications/{inbox['id']}/files/{a}/confirm?status=unchecked"
    response = await post_form(client, action, {"_csrf_token": csrf_token(page.text)})
    params = redirect_params(response)
    assert params == {"status": "unchecked", "selected": b, "flash": "confirmed", "flashed": a}
    shown = await client.get(f"/v1/classifications/{inbox['id']}/files/{a}")
    assert shown.json()["file"]["checked_at"] is not None
    after = await client.get(response.headers["location"])
    assert queue_ids(after.text) == [b, files[2]["id"]]  # a is checked now
    assert selected_id(after.text) == b
    assert re.search(r'<p id="flash" class="flash ok"[^>]*>Confirmed a.txt.</p>', after.text)


async def test_confirming_a_file_without_a_verdict_says_so(
    client: AsyncTestClient, store: AsyncStore, inbox: dict[str, Any]
) -> None:
    files = await seed(client, store, inbox["id"], [XSS_NAME, "b.txt"])
    page = await client.get(f"/classifications/{inbox['id']}/review")
    file_id = files[0]["id"]
    response = await post_form(
        client,
        f"/classifications/{inbox['id']}/files/{file_id}/confirm",
        {"_csrf_token": csrf_token(page.text)},
    )
    params = redirect_params(response)
    assert params["selected"] == file_id and params["flash"] == "no_verdict"
    after = await client.get(response.headers["location"])
    flash = re.search(r'<p id="flash" class="flash error"[^>]*>([^<]*)</p>', after.text)
    assert flash.group(1) == (
        "&lt;img src=x onerror=alert(1)&gt;.txt has no verdict to confirm yet: it is queued."
    )


async def test_change_overrides_the_verdict(
    client: AsyncTestClient, store: AsyncStore, inbox: dict[str, Any]
) -> None:
    files = await seed(client, store, inbox["id"], ["a.txt", "b.txt"])
    await classify(store, [(cat(inbox, "Invoice"), 0.2), (cat(inbox, "Invoice"), 0.3)])
    a = files[0]["id"]
    page = await client.get(f"/classifications/{inbox['id']}/review")
    token = csrf_token(page.text)
    action = form_action(page.text, "change")
    response = await post_form(
        client, action, {"_csrf_token": token, "category_id": cat(inbox, "Contract")}
    )
    assert redirect_params(response) == {
        "selected": files[1]["id"], "flash": "changed", "flashed": a
    }  # fmt: skip
    shown = (await client.get(f"/v1/classifications/{inbox['id']}/files/{a}")).json()["file"]
    assert shown["classified_category_id"] == cat(inbox, "Contract")
    assert shown["verdict_source"] == "override"
    await post_form(client, action, {"_csrf_token": token, "category_id": ""})
    shown = (await client.get(f"/v1/classifications/{inbox['id']}/files/{a}")).json()["file"]
    assert shown["verdict_source"] == "override" and shown["classified_category_id"] is None


async def test_change_to_an_unknown_category_changes_nothing(
    client: AsyncTestClient, store: AsyncStore, inbox: dict[str, Any]
) -> None:
    files = await seed(client, store, inbox["id"], ["a.txt"])
    await classify(store, [(cat(inbox, "Invoice"), 0.2)])
    page = await client.get(f"/classifications/{inbox['id']}/review")
    response = await post_form(
        client,
        form_action(page.text, "change"),
        {"_csrf_token": csrf_token(page.text), "category_id": "cat_elsewhere"},
    )
    assert redirect_params(response)["flash"] == "unknown_category"
    shown = (await client.get(f"/v1/classifications/{inbox['id']}/files/{files[0]['id']}")).json()
    assert shown["file"]["verdict_source"] == "model"
    after = await client.get(response.headers["location"])
    assert "That category is not one of this classification&#39;s." in after.text


async def test_redo_queues_the_file_again(
    client: AsyncTestClient, store: AsyncStore, inbox: dict[str, Any]
) -> None:
    files = await seed(client, store, inbox["id"], ["a.txt"])
    await classify(store, [(cat(inbox, "Invoice"), 0.2)])
    page = await client.get(f"/classifications/{inbox['id']}/review")
    response = await post_form(
        client, form_action(page.text, "redo"), {"_csrf_token": csrf_token(page.text)}
    )
    params = redirect_params(response)
    assert params["flash"] == "redone" and "selected" not in params  # the only file
    shown = (await client.get(f"/v1/classifications/{inbox['id']}/files/{files[0]['id']}")).json()
    assert shown["file"]["status"] == "queued"


async def test_a_check_on_another_classifications_file_is_a_404(
    client: AsyncTestClient, store: AsyncStore, inbox: dict[str, Any]
) -> None:
    files = await seed(client, store, inbox["id"], ["a.txt"])
    await classify(store, [(cat(inbox, "Invoice"), 0.2)])
    other = await client.post(
        "/v1/classifications", json={"name": "Other", "categories": [{"name": "X"}]}
    )
    other_id = other.json()["classification"]["id"]
    page = await client.get(f"/classifications/{inbox['id']}/review")  # a token (and cookie)
    response = await post_form(
        client,
        f"/classifications/{other_id}/files/{files[0]['id']}/confirm",
        {"_csrf_token": csrf_token(page.text)},
    )
    assert response.status_code == 404
    shown = (await client.get(f"/v1/classifications/{inbox['id']}/files/{files[0]['id']}")).json()
    assert shown["file"]["checked_at"] is None
