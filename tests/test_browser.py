"""The review pages in a real browser: Debian's headless chromium, driven by Playwright,
against the real app process and the real bundled model server. Screenshots of each page
go to reports/screenshots/ (1280×800 and a phone's width), to be looked at."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from .documents import INVOICE, RECEIPT, pdf_bytes
from .modelserver_fixture import free_port
from .test_classify_model import start_app, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.model]

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "reports" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags chromium keeps trying hosts this machine cannot
# reach; as root it needs --no-sandbox.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
XSS_NAME = "<img src=x onerror=alert(1)>.txt"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, classify_server) -> Iterator[str]:
    """`python -m app serve` over the real model server, on a data folder of its own."""
    data = tmp_path_factory.mktemp("browser")
    port = free_port()
    env = {
        **os.environ,
        "OLLAMA_HOST": classify_server.url,
        "DOCSORT_MODEL": classify_server.model,
        "DOCSORT_DATA_DIR": str(data / "data"),
        "DOCSORT_PORT": str(port),
    }
    base = f"http://127.0.0.1:{port}"
    process = start_app(env, data / "app.log")

    def up() -> bool:
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, 60)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=60)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))
    yield page
    context.close()
    assert errors == []  # no script error, and no alert() from an injected name


def shoot(page: Page, name: str) -> None:
    """The page at 1280×800 and at a phone's width."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)
    size = page.viewport_size
    page.set_viewport_size(PHONE)
    page.screenshot(path=SHOTS / f"{name}-phone.png", full_page=True)
    assert size is not None
    page.set_viewport_size(size)


def test_the_classifications_page_lists_and_escapes(page: Page, app_url: str) -> None:
    spec = {"name": "<b>Inbox</b>", "categories": [{"name": XSS_NAME}]}
    assert httpx.post(f"{app_url}/v1/classifications", json=spec).status_code == 201
    page.goto(app_url + "/")
    expect(page.get_by_text("<b>Inbox</b>")).to_be_visible()
    expect(page.get_by_text(XSS_NAME)).to_be_visible()
    assert page.locator("img").count() == 0
    shoot(page, "classifications")


def test_a_user_creates_uploads_watches_and_corrects_in_the_browser(
    page: Page, app_url: str
) -> None:
    """The whole round: a classification made in the form, three files uploaded through
    the file input, watched until processed, one verdict changed with the keyboard."""
    page.goto(app_url + "/classifications/new")
    page.fill("#name", "Inbox triage")
    rows = [
        ("Invoice", "Vendor bills and invoices", "invoice, total due"),
        ("Contract", "Service agreements, NDAs", "agreement, whereas"),
        ("Receipt", "Point-of-sale receipts", "receipt, cash, change"),
    ]
    for i, (name, description, keywords) in enumerate(rows):
        page.fill(f"#categories-{i}-name", name)
        page.fill(f"#categories-{i}-description", description)
        page.fill(f"#categories-{i}-keywords", keywords)
    shoot(page, "classification-form")
    page.click("#save")
    page.wait_for_url("**/classifications/*/review**")
    cls_id = page.url.split("/classifications/")[1].split("/")[0]
    shown = httpx.get(f"{app_url}/v1/classifications/{cls_id}").json()["classification"]
    assert [c["name"] for c in shown["categories"]] == ["Invoice", "Contract", "Receipt"]

    files = [
        ("acme-bill.pdf", "application/pdf", pdf_bytes(INVOICE)),
        ("coffee.txt", "text/plain", RECEIPT.encode()),
        (XSS_NAME, "text/plain", b"SERVICE AGREEMENT between the parties. Whereas the provider"),
    ]
    page.goto(f"{app_url}/classifications/{cls_id}/upload")
    page.set_input_files("#files", [{"name": n, "mimeType": t, "buffer": b} for n, t, b in files])
    shoot(page, "upload")
    page.click("#upload")
    page.wait_for_url("**/batches/*")
    expect(page.locator("#batch-status")).to_have_text("processed", timeout=240_000)
    expect(page.locator("#count-processed")).to_have_text("3")
    expect(page.get_by_text(XSS_NAME)).to_be_visible()
    shoot(page, "batch")

    # The review queue: the file with the dangerous name, changed to Receipt with a key.
    page.click("#review-link")
    page.wait_for_url("**/review**")
    expect(page.locator("#queue .queue-row")).to_have_count(3)
    expect(page.get_by_text(XSS_NAME).first).to_be_visible()
    assert page.locator("#queue img, #detail img:not(#preview)").count() == 0
    shoot(page, "review")
    view = httpx.get(f"{app_url}/v1/classifications/{cls_id}/batches").json()["batches"][0]
    batch = httpx.get(f"{app_url}/v1/classifications/{cls_id}/batches/{view['id']}").json()
    target = next(f for f in batch["files"] if f["file_name"] == XSS_NAME)
    rows = page.locator("#queue .queue-row")
    for _ in range(3):
        if page.locator("#detail").get_attribute("data-file-id") == target["id"]:
            break
        page.keyboard.press("j")
        page.wait_for_load_state()
    assert page.locator("#detail").get_attribute("data-file-id") == target["id"]
    receipt = next(c for c in shown["categories"] if c["name"] == "Receipt")
    key = page.locator(f"button[data-category-id='{receipt['id']}']").get_attribute("data-key")
    page.keyboard.press(str(key))
    expect(page.locator("#flash")).to_be_visible()
    assert rows.count() == 3

    file = httpx.get(f"{app_url}/v1/classifications/{cls_id}/files/{target['id']}").json()
    assert file["file"]["verdict_source"] == "override"
    assert file["file"]["classified_category_id"] == receipt["id"]
    accuracy = httpx.get(f"{app_url}/v1/classifications/{cls_id}/accuracy").json()
    assert accuracy["accuracy"]["all"]["checked"] == 1

    page.goto(f"{app_url}/classifications/{cls_id}/accuracy")
    expect(page.locator("#checked-count")).to_have_text("1")
    shoot(page, "accuracy")

    # The invoice's first page, rendered by docsort, in the review queue.
    bill = next(f for f in batch["files"] if f["file_name"] == "acme-bill.pdf")
    page.goto(f"{app_url}/classifications/{cls_id}/review?selected={bill['id']}")
    preview = page.locator("#preview")
    expect(preview).to_be_visible()
    assert preview.evaluate("img => img.complete && img.naturalWidth") > 0
    shoot(page, "review-preview")

    # A category's description changes: the two machine verdicts go stale, one button
    # re-runs them (the override stays).
    categories = [
        {k: c[k] for k in ("id", "name", "description", "keywords")} for c in shown["categories"]
    ]
    categories[0]["description"] = "Bills from suppliers, with a total to pay"
    patched = httpx.patch(f"{app_url}/v1/classifications/{cls_id}", json={"categories": categories})
    assert patched.status_code == 200, patched.text
    page.goto(f"{app_url}/classifications/{cls_id}/stale")
    expect(page.locator("#stale-count")).to_have_text("2")
    expect(page.get_by_text("Invoice: description changed").first).to_be_visible()
    shoot(page, "stale")
    page.click("#rerun-stale")
    expect(page.locator("#flash")).to_be_visible()
    wait_for(
        lambda: (
            httpx.get(f"{app_url}/v1/classifications/{cls_id}/batches/{view['id']}").json()[
                "batch"
            ]["status"]
            == "processed"
        ),
        240,
    )
    page.goto(f"{app_url}/classifications/{cls_id}/stale")
    expect(page.locator("#stale-count")).to_have_text("0")
