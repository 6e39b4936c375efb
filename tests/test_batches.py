"""The upload endpoint: what it stores, what it refuses without a trace, and how batches report
progress; plus a memory check of streaming uploads against a real uvicorn process."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from app.api import create_app
from app.jobs import PROCESS
from app.settings import MB, Settings
from app.uploads import STAGING

from .conftest import BASE_URL, DEAD_OWNER
from .conftest import upload as upload_files

ROOT = Path(__file__).resolve().parent.parent
SMALL_LIMIT = 64 * 1024
OTHER = {"name": "Other", "categories": [{"name": "Memo"}]}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A small file limit keeps the too-large case fast; max_files keeps its default of 30."""
    return replace(settings, max_file_bytes=SMALL_LIMIT)


def batches_url(cls_id: str) -> str:
    return f"/v1/classifications/{cls_id}/batches"


async def upload(client: AsyncTestClient, cls_id: str, *files: tuple[str, bytes]) -> Any:
    return await client.post(batches_url(cls_id), files=[("files", f) for f in files])


def files_on_disk(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def row_count(settings: Settings, table: str) -> int:
    with sqlite3.connect(settings.db_path) as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


async def test_upload_stores_every_file_before_answering(
    client: AsyncTestClient, settings: Settings, inbox: dict[str, Any]
) -> None:
    sent = {
        "invoice.pdf": b"%PDF-1.7 not really",
        "notes.txt": "Grüße\r\n".encode() * 100,
        "blob.bin": bytes(range(256)) * 50,
    }
    response = await upload(client, inbox["id"], *sent.items())

    assert response.status_code == 202, response.text
    batch = response.json()["batch"]
    assert batch["id"].startswith("cbtc_")
    assert batch["classification_id"] == inbox["id"]
    assert (batch["status"], batch["file_count"]) == ("queued", 3)

    shown = (await client.get(f"{batches_url(inbox['id'])}/{batch['id']}")).json()
    assert {f["file_name"] for f in shown["files"]} == set(sent)
    for f in shown["files"]:
        assert f["status"] == "queued"
        assert f["size_bytes"] == len(sent[f["file_name"]])
        assert (settings.uploads_dir / batch["id"] / f["id"]).read_bytes() == sent[f["file_name"]]
    assert len(files_on_disk(settings.uploads_dir)) == 3
    assert row_count(settings, "files") == 3


async def test_client_file_names_are_display_only(
    client: AsyncTestClient, settings: Settings, tmp_path: Path, inbox: dict[str, Any]
) -> None:
    names = ["../../etc/passwd", "C:\\evil\\x.pdf", "/abs/dir/y.txt", "..\\..\\z.txt"]
    response = await upload(client, inbox["id"], *((n, b"hello") for n in names))
    assert response.status_code == 202, response.text
    batch_id = response.json()["batch"]["id"]

    shown = (await client.get(f"{batches_url(inbox['id'])}/{batch_id}")).json()
    assert sorted(f["file_name"] for f in shown["files"]) == ["passwd", "x.pdf", "y.txt", "z.txt"]
    expected = {settings.uploads_dir / batch_id / f["id"] for f in shown["files"]}
    ours = {p for p in files_on_disk(tmp_path) if p.name.startswith(("docsort.db", "csrf-"))}
    assert set(files_on_disk(tmp_path)) - ours == expected  # nothing outside uploads/


def multipart_body(*parts: tuple[str, str | None, bytes], boundary: str = "b0undary") -> bytes:
    body = b""
    for name, file_name, data in parts:
        disposition = f'form-data; name="{name}"'
        if file_name is not None:
            disposition += f'; filename="{file_name}"'
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


MULTIPART = {"content-type": "multipart/form-data; boundary=b0undary"}
TWO_FILES = multipart_body(("files", "a.txt", b"first file"), ("files", "b.txt", b"second file"))


@pytest.mark.parametrize(
    "request_kwargs, status, code",
    [
        pytest.param(
            {"files": [("files", (f"{i}.txt", b"x")) for i in range(31)]},
            422,
            "too_many_files",
            id="31 files",
        ),
        pytest.param(
            {
                "files": [
                    ("files", ("ok.txt", b"ok")),
                    ("files", ("big.bin", b"x" * (SMALL_LIMIT + 1))),
                ]
            },
            413,
            "file_too_large",
            id="file over the limit",
        ),
        pytest.param(
            {"content": b"x" * (30 * (SMALL_LIMIT + 64 * 1024) + 1), "headers": MULTIPART},
            413,
            "batch_too_large",
            id="content-length over the batch limit",
        ),
        pytest.param(
            {"content": multipart_body(("note", None, b"hi")), "headers": MULTIPART},
            422,
            "no_files",
            id="no files part",
        ),
        pytest.param({"json": {"files": ["a.txt"]}}, 415, "unsupported_media_type", id="json body"),
        pytest.param(
            {"content": TWO_FILES, "headers": {"content-type": "multipart/form-data"}},
            400,
            "bad_multipart",
            id="no boundary",
        ),
        pytest.param(
            {"content": b"this is not multipart at all", "headers": MULTIPART},
            400,
            "bad_multipart",
            id="garbage body",
        ),
        pytest.param(
            {"content": TWO_FILES[: TWO_FILES.index(b"second") + 3], "headers": MULTIPART},
            400,
            "truncated_upload",
            id="cut inside a file",
        ),
        pytest.param(
            {"content": TWO_FILES[: TWO_FILES.index(b'"b.txt"')], "headers": MULTIPART},
            400,
            "truncated_upload",
            id="cut between files",
        ),
    ],
)
async def test_bad_upload_is_refused_and_leaves_nothing(
    client: AsyncTestClient,
    settings: Settings,
    inbox: dict[str, Any],
    request_kwargs: dict[str, Any],
    status: int,
    code: str,
) -> None:
    response = await client.post(batches_url(inbox["id"]), **request_kwargs)

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    await assert_nothing_stored(client, settings, inbox["id"])


async def test_upload_to_unknown_classification_is_404(
    client: AsyncTestClient, settings: Settings, inbox: dict[str, Any]
) -> None:
    response = await upload(client, "cls_nope", ("a.txt", b"an invoice"))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    await assert_nothing_stored(client, settings, inbox["id"])


async def assert_nothing_stored(client: AsyncTestClient, settings: Settings, cls_id: str) -> None:
    assert (await client.get(batches_url(cls_id))).json() == {"batches": []}
    assert row_count(settings, "batches") == row_count(settings, "files") == 0
    assert files_on_disk(settings.uploads_dir) == []


async def test_batch_status_follows_its_files(
    client: AsyncTestClient, worker: Any, inbox: dict[str, Any]
) -> None:
    response = await upload(
        client,
        inbox["id"],
        ("a.txt", b"Please pay this invoice."),
        ("b.txt", b"A contract, an agreement."),
    )
    batch_id = response.json()["batch"]["id"]
    url = f"{batches_url(inbox['id'])}/{batch_id}"

    before = (await client.get(url)).json()["batch"]
    assert before["status"] == "queued"
    assert (before["processed_count"], before["failed_count"]) == (0, 0)
    assert before["finished_at"] is None

    assert await worker.drain() == 2
    after = await client.get(url)
    batch = after.json()["batch"]
    assert batch["status"] == "processed"
    assert (batch["processed_count"], batch["failed_count"]) == (2, 0)
    assert batch["finished_at"] is not None
    verdicts = {f["file_name"]: f["classified_category_name"] for f in after.json()["files"]}
    assert verdicts == {"a.txt": "Invoice", "b.txt": "Contract"}

    listed = (await client.get(batches_url(inbox["id"]))).json()["batches"]
    assert listed == [batch]


async def test_batch_lookups_that_miss_are_404(
    client: AsyncTestClient, inbox: dict[str, Any]
) -> None:
    batch_id = (await upload(client, inbox["id"], ("a.txt", b"x"))).json()["batch"]["id"]
    other = (await client.post("/v1/classifications", json=OTHER)).json()

    for url in [
        f"{batches_url(other['classification']['id'])}/{batch_id}",
        f"{batches_url(inbox['id'])}/cbtc_unknown",
        f"{batches_url('cls_unknown')}/{batch_id}",
    ]:
        response = await client.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"
    assert (await client.get(batches_url(other["classification"]["id"]))).json()["batches"] == []


async def test_unreadable_files_fail_alone(
    client: AsyncTestClient, worker: Any, inbox: dict[str, Any]
) -> None:
    response = await upload(
        client,
        inbox["id"],
        ("bill.txt", b"Invoice 42, total due 10 EUR"),
        ("empty.txt", b""),
        ("junk.bin", bytes(range(256)) * 8),
    )
    batch_id = response.json()["batch"]["id"]
    await worker.drain()

    shown = (await client.get(f"{batches_url(inbox['id'])}/{batch_id}")).json()
    files = {f["file_name"]: f for f in shown["files"]}
    assert files["bill.txt"]["status"] == "processed"
    assert files["bill.txt"]["classified_category_name"] == "Invoice"
    assert files["bill.txt"]["error"] is None
    assert files["empty.txt"]["status"] == "failed"
    assert files["empty.txt"]["error"] == "the file is empty"
    assert files["junk.bin"]["status"] == "failed"
    assert "unsupported file type" in files["junk.bin"]["error"]
    batch = shown["batch"]
    assert (batch["status"], batch["processed_count"], batch["failed_count"]) == ("processed", 1, 2)


SERVER = """
import sys
from pathlib import Path

import uvicorn

from app.api import create_app
from app.model import ModelClient
from app.settings import Settings
from app.store import AsyncStore

settings = Settings(data_dir=Path(sys.argv[1]), prompts_dir=Path("prompts"))
store = AsyncStore(settings.db_path)
app = create_app(settings, store, ModelClient("http://127.0.0.1:9", "x"), run_worker=False)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(tmp_path / "server"), str(port)], cwd=ROOT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"{url}/v1/classifications").raise_for_status()
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "no server"
                time.sleep(0.1)
        yield url, process
    finally:
        process.terminate()
        process.wait(10)


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(ln for ln in status.splitlines() if ln.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def streamed_files(boundary: str, count: int, size: int) -> Iterator[bytes]:
    """A multipart body made on the fly, so the client never holds a file either."""
    block = bytes(range(256)) * 4096
    for i in range(count):
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files";'
            f' filename="big{i}.bin"\r\n\r\n'
        ).encode()
        for start in range(0, size, len(block)):
            yield block[: size - start]
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def test_streamed_upload_keeps_server_memory_flat(
    server: tuple[str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    url, process = server
    cls_id = httpx.post(f"{url}/v1/classifications", json=OTHER).json()["classification"]["id"]
    headers = {"content-type": "multipart/form-data; boundary=streamboundary"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        warmup = http.post(batches_url(cls_id), content=streamed_files("streamboundary", 1, MB))
        assert warmup.status_code == 202, warmup.text
        baseline = peak_rss_mb(process.pid)

        response = http.post(
            batches_url(cls_id), content=streamed_files("streamboundary", 4, 25 * MB)
        )

    assert response.status_code == 202, response.text
    batch_id = response.json()["batch"]["id"]
    stored = files_on_disk(tmp_path / "server" / "uploads" / batch_id)
    assert [p.stat().st_size for p in stored] == [25 * MB] * 4
    assert peak_rss_mb(process.pid) < baseline + 60


async def test_redo_a_batch_queues_its_failed_files_or_all_but_overrides(
    client, inbox, worker, fake_model
):
    fake_model.replies = ["{}", "{}", "{}"]  # the first file's answers are all invalid
    batch = await upload_files(client, inbox["id"], {"a.txt": b"Invoice", "b.txt": b"Receipt"})
    await worker.drain()
    base = f"/v1/classifications/{inbox['id']}/batches/{batch['id']}"
    files = {f["file_name"]: f for f in (await client.get(base)).json()["files"]}
    failed = next(f for f in files.values() if f["status"] == "failed")
    done = next(f for f in files.values() if f["status"] == "processed")

    response = await client.post(f"{base}/redo")
    assert response.status_code == 202
    assert response.json()["requeued"] == 1
    assert response.json()["batch"]["failed_count"] == 0
    assert await worker.drain() == 1
    after = {f["id"]: f for f in (await client.get(base)).json()["files"]}
    assert after[failed["id"]]["status"] == "processed"
    assert after[done["id"]]["finished_at"] == done["finished_at"]  # untouched

    receipt = inbox["categories"][2]["id"]
    await client.patch(
        f"/v1/classifications/{inbox['id']}/files/{done['id']}",
        json={"classified_category_id": receipt},
    )
    response = await client.post(f"{base}/redo?files=all")
    assert response.json()["requeued"] == 1  # the overridden file is a person's verdict
    assert await worker.drain() == 1
    kept = (await client.get(f"/v1/classifications/{inbox['id']}/files/{done['id']}")).json()
    assert kept["file"]["verdict_source"] == "override"


async def test_redo_an_unknown_batch_or_with_a_bad_filter_is_refused(client, inbox):
    base = f"/v1/classifications/{inbox['id']}/batches"
    response = await client.post(f"{base}/cbtc_nope/redo")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    batch = await upload_files(client, inbox["id"], {"a.txt": b"Invoice"})
    response = await client.post(f"{base}/{batch['id']}/redo?files=some")
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_input"


async def test_start_removes_what_a_dead_process_left_in_uploads(
    settings, store, fake_model, client, inbox
):
    batch = await upload_files(client, inbox["id"], {"a.txt": b"Invoice"})
    uploads = settings.uploads_dir
    dead = uploads / STAGING / f"{DEAD_OWNER.rpartition(':')[0]}~cbtc_dead"
    live = uploads / STAGING / f"{PROCESS}~cbtc_live"
    orphan, recent = uploads / "cbtc_orphan", uploads / "cbtc_recent"
    for folder in (dead, live, orphan, recent):
        folder.mkdir(parents=True)
        (folder / "file_1").write_bytes(b"bytes")
    os.utime(orphan, (time.time() - 3600, time.time() - 3600))

    app = create_app(settings, store, fake_model, run_worker=False)
    async with AsyncTestClient(app=app, base_url=BASE_URL):
        pass
    assert not dead.exists() and not orphan.exists()
    assert live.exists() and recent.exists()  # another live upload; one being recorded
    assert (uploads / batch["id"]).is_dir()
