"""The accuracy page: the API's live accuracy, drawn (a bar per category, a confusion grid)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from litestar.testing import AsyncTestClient

from .conftest import INBOX, upload


async def checked(client: AsyncTestClient, worker: Any, cls: dict[str, Any]) -> None:
    """Four files sorted by the fake model; then a person confirms "a" (Invoice) and "c"
    (Contract) and says "b" (Invoice to the model) is a Contract: 3 checks, 2 right."""
    batch = await upload(
        client,
        cls["id"],
        {
            "a.txt": b"Invoice 1",
            "b.txt": b"Invoice 2",
            "c.txt": b"Contract agreement",
            "d.txt": b"x",
        },
    )
    await worker.drain()
    view = await client.get(f"/v1/classifications/{cls['id']}/batches/{batch['id']}")
    files = {f["file_name"]: f["id"] for f in view.json()["files"]}
    base = f"/v1/classifications/{cls['id']}/files"
    contract = next(c for c in cls["categories"] if c["name"] == "Contract")
    assert (await client.post(f"{base}/{files['a.txt']}/confirm")).status_code == 200
    response = await client.patch(
        f"{base}/{files['b.txt']}", json={"classified_category_id": contract["id"]}
    )
    assert response.status_code == 200
    assert (await client.post(f"{base}/{files['c.txt']}/confirm")).status_code == 200


VOID = {"input", "br", "img", "meta", "link", "hr"}


class _Text(HTMLParser):
    """The text of the element with an id, its descendants' included."""

    def __init__(self, element_id: str) -> None:
        super().__init__()
        self.element_id, self.depth, self.parts = element_id, 0, []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        if self.depth or ("id", self.element_id) in attrs:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        self.depth = max(0, self.depth - 1) if self.depth else 0

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.parts.append(data)


def by_id(html: str, element_id: str) -> str:
    parser = _Text(element_id)
    parser.feed(html)
    assert parser.parts, element_id
    return " ".join(" ".join(parser.parts).split())


def bar_row(html: str, category: str) -> str:
    match = re.search(rf'<tr data-category="{re.escape(category)}">(.*?)</tr>', html, re.S)
    assert match, category
    return match.group(1)


def cell(html: str, expected: str, got: str) -> re.Match[str]:
    match = re.search(
        rf'<td class="cell shade-(\d) (right|wrong)" data-expected="{re.escape(expected)}"'
        rf' data-got="{re.escape(got)}" data-count="(\d+)"',
        html,
    )
    assert match, (expected, got)
    return match


async def test_the_page_shows_the_apis_figures(client, inbox, worker):
    await checked(client, worker, inbox)
    page = await client.get(f"/classifications/{inbox['id']}/accuracy")
    assert page.status_code == 200
    api = (await client.get(f"/v1/classifications/{inbox['id']}/accuracy")).json()["accuracy"]
    assert api["all"]["checked"] == 3 and api["all"]["right"] == 2
    assert by_id(page.text, "checked-count") == "3"
    overall = by_id(page.text, "accuracy-overall")
    assert overall.startswith("67%") and "(2 of 3)" in overall
    assert by_id(page.text, "accuracy-recent").startswith("67%")
    assert by_id(page.text, "from-examples") == "0"
    # A bar per category, its length the share right.
    contract = bar_row(page.text, "Contract")
    assert 'class="fill" x="0" y="0" width="50.0%"' in contract and "(1 of 2)" in contract
    assert 'width="100.0%"' in bar_row(page.text, "Invoice")
    assert "no checks" in bar_row(page.text, "Receipt")
    assert 'data-source="model"' in page.text
    # The grid: rows what people said, columns what docsort had said.
    wrong = cell(page.text, "Contract", "Invoice")
    assert wrong.groups() == ("5", "wrong", "1")
    assert cell(page.text, "Invoice", "Invoice").groups() == ("5", "right", "1")
    assert cell(page.text, "Contract", "Contract").group(3) == "1"
    assert cell(page.text, "Invoice", "Contract").groups() == ("0", "wrong", "0")
    assert 'data-expected="Receipt"' not in page.text  # no check names it
    assert "<strong>Contract</strong> taken for <strong>Invoice</strong>: 1×" in page.text


async def test_the_recent_figures_are_over_the_last_n_checks(client, inbox, worker):
    await checked(client, worker, inbox)
    page = await client.get(f"/classifications/{inbox['id']}/accuracy", params={"last": 2})
    assert page.status_code == 200
    recent = by_id(page.text, "accuracy-recent")
    assert recent.startswith("50%") and "last 2 checks" in recent and "(1 of 2)" in recent
    assert by_id(page.text, "checked-count") == "3"  # the overall figures count every check
    assert 'name="last" min="1"' in page.text and 'value="2"' in page.text
    for unusable in ("0", "many", "100001"):
        page = await client.get(
            f"/classifications/{inbox['id']}/accuracy", params={"last": unusable}
        )
        assert page.status_code == 200
        assert "from 1 to 100000: showing the last 50" in by_id(page.text, "last-error")
        assert "last 50 checks" in by_id(page.text, "accuracy-recent")


async def test_no_checks_yet(client, inbox):
    page = await client.get(f"/classifications/{inbox['id']}/accuracy")
    assert page.status_code == 200
    assert by_id(page.text, "checked-count") == "0"
    assert by_id(page.text, "accuracy-overall").startswith("–")
    assert "No checks yet" in page.text and 'id="confusion"' not in page.text
    assert 'id="accuracy-bars"' in page.text and "Invoice" in bar_row(page.text, "Invoice")


async def test_category_names_are_text(client, worker):
    body = {**INBOX, "categories": [*INBOX["categories"], {"name": "<b>x</b>"}]}
    created = await client.post("/v1/classifications", json=body)
    assert created.status_code == 201, created.text
    cls = created.json()["classification"]
    batch = await upload(client, cls["id"], {"a.txt": b"Invoice 1"})
    await worker.drain()
    (file,) = (await client.get(f"/v1/classifications/{cls['id']}/batches/{batch['id']}")).json()[
        "files"
    ]
    tag = next(c for c in cls["categories"] if c["name"] == "<b>x</b>")
    await client.patch(
        f"/v1/classifications/{cls['id']}/files/{file['id']}",
        json={"classified_category_id": tag["id"]},
    )
    page = await client.get(f"/classifications/{cls['id']}/accuracy")
    assert page.status_code == 200
    assert "<b>x</b>" not in page.text
    assert '<tr data-category="&lt;b&gt;x&lt;/b&gt;">' in page.text
    assert "<strong>&lt;b&gt;x&lt;/b&gt;</strong> taken for <strong>Invoice</strong>" in page.text
    assert cell(page.text, "&lt;b&gt;x&lt;/b&gt;", "Invoice").groups() == ("5", "wrong", "1")


async def test_an_unknown_classification_is_a_404_page(client):
    page = await client.get("/classifications/cls_unknown/accuracy")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
