"""Real processes under faults: the API killed with -9 while it works, the bundled model
server stopped in the middle of a batch. Nothing may be lost, stuck or done twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.modelfetch import default_models_dir, ensure_model

from .conftest import INBOX
from .modelserver_fixture import TEST_MODEL, free_port, start_model_server, stop, wait_until_ready
from .receiver import Receiver
from .test_classify_model import start_app, wait_for

pytestmark = pytest.mark.model

TEXTS = {
    "a.txt": b"Invoice 7. Bill to ACME. Total due: 120 EUR.",
    "b.txt": b"Receipt. Coffee 3.20, cash 5.00, change 1.80.",
    "c.txt": b"Service agreement between the parties, whereas the provider agrees.",
    "d.txt": b"Invoice 8 for consulting. Total due: 900 EUR.",
}


def app_env(tmp_path: Path, model_url: str, model: str) -> dict[str, str]:
    return {
        **os.environ,
        "OLLAMA_HOST": model_url,
        "DOCSORT_MODEL": model,
        "DOCSORT_DATA_DIR": str(tmp_path / "data"),
        "DOCSORT_PORT": str(free_port()),
        "DOCSORT_MAX_ATTEMPTS": "3",
    }


def api_up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def file_status(db: Path, name: str) -> str | None:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT status FROM files WHERE file_name = ?", [name]).fetchone()
    return row and row[0]


def watched_batch(base: str, receiver: Receiver, copies: int) -> tuple[list[Any], str]:
    """`copies` of TEXTS uploaded as one batch, each verdict announced to `receiver`."""
    cls = httpx.post(f"{base}/v1/classifications", json=INBOX).json()["classification"]
    hook = {"url": receiver.url, "events": ["file.classified"]}
    assert httpx.post(f"{base}/v1/webhooks", json=hook).status_code == 201
    files = [
        ("files", (f"{i}-{name}", text)) for i in range(copies) for name, text in TEXTS.items()
    ]
    batch = httpx.post(f"{base}/v1/classifications/{cls['id']}/batches", files=files).json()
    return files, f"{base}/v1/classifications/{cls['id']}/batches/{batch['batch']['id']}"


def test_a_file_that_kills_the_process_fails_after_3_tries_and_the_rest_go_on(
    tmp_path, classify_server
):
    """kill -9 whenever one file is being processed, as if reading it crashed the process:
    it fails with a reason after DOCSORT_MAX_ATTEMPTS runs; the others are processed."""
    env = app_env(tmp_path, classify_server.url, classify_server.model)
    base, db = f"http://127.0.0.1:{env['DOCSORT_PORT']}", tmp_path / "data" / "docsort.db"
    log = tmp_path / "app.log"
    process = start_app(env, log)
    try:
        wait_for(lambda: api_up(base), 60)
        cls = httpx.post(f"{base}/v1/classifications", json=INBOX).json()["classification"]
        files = [("files", ("poison.txt", b"Invoice 1. Total due: 5 EUR."))]
        files += [("files", item) for item in TEXTS.items()]
        batch = httpx.post(f"{base}/v1/classifications/{cls['id']}/batches", files=files).json()
        batch_url = f"{base}/v1/classifications/{cls['id']}/batches/{batch['batch']['id']}"
        for _ in range(3):
            wait_for(lambda: file_status(db, "poison.txt") == "processing", 120, 0.01)
            process.send_signal(signal.SIGKILL)
            process.wait()
            process = start_app(env, log)
            wait_for(lambda: api_up(base), 60)
        view = wait_for(
            lambda: (v := httpx.get(batch_url).json())["batch"]["status"] == "processed" and v,
            300,
        )
    finally:
        process.terminate()
        process.wait(timeout=60)
    by_name = {f["file_name"]: f for f in view["files"]}
    poison = by_name.pop("poison.txt")
    assert poison["status"] == "failed", log.read_text()[-3000:]
    assert poison["error"].startswith("processing was interrupted 3 times")
    assert poison["attempts"] == 3
    assert [f["status"] for f in by_name.values()] == ["processed"] * 4


def test_the_model_server_stopped_for_30_s_mid_batch_loses_nothing(tmp_path, receiver):
    """The real bundled server stopped while a batch runs and started again 30 s later:
    files wait queued, /health says why, and every file ends processed exactly once."""
    models_dir = default_models_dir()
    ensure_model(TEST_MODEL, models_dir)
    model_port = free_port()
    model_url, model_log = f"http://127.0.0.1:{model_port}", tmp_path / "model.log"
    server = start_model_server(TEST_MODEL, model_port, model_log, models_dir)
    env = app_env(tmp_path, model_url, TEST_MODEL)
    base, log = f"http://127.0.0.1:{env['DOCSORT_PORT']}", tmp_path / "app.log"
    process = None
    try:
        wait_until_ready(model_url, server, model_log, 120)
        process = start_app(env, log)
        wait_for(lambda: api_up(base), 60)
        files, batch_url = watched_batch(base, receiver, copies=3)

        wait_for(lambda: httpx.get(batch_url).json()["batch"]["processed_count"] >= 1, 120, 0.1)
        stop(server)
        stopped = time.monotonic()
        health = wait_for(
            lambda: (
                (h := httpx.get(f"{base}/health").json())["worker"]["state"] == "waiting_for_model"
                and h
            ),
            20,
        )
        assert health["status"] == "unavailable" and health["worker"]["since"]
        time.sleep(max(0.0, 30 - (time.monotonic() - stopped)))
        during = httpx.get(batch_url).json()
        assert during["batch"]["failed_count"] == 0
        assert any(f["status"] == "queued" for f in during["files"])

        server = start_model_server(TEST_MODEL, model_port, model_log, models_dir)
        wait_until_ready(model_url, server, model_log, 120)
        view = wait_for(
            lambda: (v := httpx.get(batch_url).json())["batch"]["status"] == "processed" and v,
            300,
        )
        wait_for(lambda: len(receiver.events) >= len(files), 30)
        assert httpx.get(f"{base}/health").json()["worker"]["state"] == "working"
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=60)
        stop(server)
    assert [f["status"] for f in view["files"]] == ["processed"] * len(files), log.read_text()
    classified = Counter(e["data"]["id"] for e in receiver.events)
    assert sorted(classified.values()) == [1] * len(files)  # none twice


def test_two_model_hosts_one_stopped_mid_batch_the_other_finishes_it(tmp_path, receiver):
    """OLLAMA_HOST names two bundled servers; one is stopped while a batch runs: the batch
    finishes on the other, no file fails, none is classified twice."""
    models_dir = default_models_dir()
    ensure_model(TEST_MODEL, models_dir)
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    logs = [tmp_path / f"model-{i}.log" for i in range(2)]
    servers = [
        start_model_server(TEST_MODEL, port, log, models_dir, threads=1)
        for port, log in zip(ports, logs, strict=True)
    ]
    env = app_env(tmp_path, ",".join(urls), TEST_MODEL)
    base, log = f"http://127.0.0.1:{env['DOCSORT_PORT']}", tmp_path / "app.log"
    process = None
    try:
        for url, server, model_log in zip(urls, servers, logs, strict=True):
            wait_until_ready(url, server, model_log, 120)
        process = start_app(env, log)
        wait_for(lambda: api_up(base), 60)
        files, batch_url = watched_batch(base, receiver, copies=2)
        wait_for(lambda: httpx.get(batch_url).json()["batch"]["processed_count"] >= 2, 120, 0.1)
        stop(servers[0])
        view = wait_for(
            lambda: (v := httpx.get(batch_url).json())["batch"]["status"] == "processed" and v,
            300,
        )
        wait_for(lambda: len(receiver.events) >= len(files), 30)
        health = httpx.get(f"{base}/health").json()
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=60)
        for server in servers:
            stop(server)
    assert [f["status"] for f in view["files"]] == ["processed"] * len(files), log.read_text()
    classified = Counter(e["data"]["id"] for e in receiver.events)
    assert sorted(classified.values()) == [1] * len(files)
    assert health["status"] == "ok"
    assert [h["ok"] for h in health["hosts"]] == [False, True]
