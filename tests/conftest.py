"""Shared fixtures: a fresh data folder, a store, a fake or real model, and an API client."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app.api import create_app
from app.model import ModelClient, Reply
from app.settings import Settings
from app.store import AsyncStore

from .modelserver_fixture import ModelServer, running_model_server
from .receiver import Receiver

ROOT = Path(__file__).resolve().parent.parent
# The model the end-to-end tests classify with; `make test` sets it (TEST_MODEL).
CLASSIFY_MODEL = os.environ.get("DOCSORT_TEST_MODEL", "qwen2.5-coder:1.5b")
# A claim's owner that is a process of this host which has stopped (past the largest pid).
DEAD_OWNER = f"{socket.gethostname()}:4194305:gone:0"
# A host the API answers to (the test client's default, testserver.local, is refused).
BASE_URL = "http://127.0.0.1"

INBOX = {
    "name": "Inbox triage",
    "description": "Sort everything in our document inbox",
    "categories": [
        {
            "name": "Invoice",
            "description": "Vendor bills and invoices",
            "keywords": ["invoice", "bill to", "total due"],
            "linked_extraction_id": None,
        },
        {
            "name": "Contract",
            "description": "Service agreements, NDAs",
            "keywords": ["agreement", "party", "whereas"],
        },
        {"name": "Receipt", "description": "Point-of-sale receipts"},
    ],
}


class FakeModel(ModelClient):
    """Stands in for the model in logic tests: picks the first category whose name the
    document mentions, else none. Asked to extract (a schema without "category"), it answers
    each field from a "name: value" line of the document, else null. `replies` queues raw
    answers to return first."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:9", "fake-model")
        self.replies: list[str | Exception] = []
        self.calls: list[dict[str, Any]] = []

    async def chat_json(
        self, system: str, user: str, schema: dict[str, Any], attempt: int = 0, **options: Any
    ) -> Reply:
        self.calls.append({"system": system, "user": user, "schema": schema, "attempt": attempt})
        if self.replies:
            reply = self.replies.pop(0)
            if isinstance(reply, Exception):
                raise reply
            return Reply(reply)
        if "category" not in schema["properties"]:
            lines = {
                name: re.search(rf"^{name}:[ \t]*(.+)$", user, re.M)
                for name in schema["properties"]
            }
            return Reply(json.dumps({k: m and m.group(1).strip() for k, m in lines.items()}))
        names = [n for n in schema["properties"]["category"]["enum"] if n != "none"]
        found = next((n for n in names if re.search(rf"\b{re.escape(n)}\b", user, re.I)), "none")
        return Reply(
            json.dumps({"reasoning": f"It mentions {found}.", "category": found, "confidence": 0.9})
        )

    async def status(self) -> dict[str, Any]:
        return {"ok": True, "host": self.host, "model": self.model}


@pytest.fixture(scope="session")
def classify_server() -> Iterator[ModelServer]:
    """The real bundled model server, started once for every test that classifies for real."""
    with running_model_server(CLASSIFY_MODEL) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", prompts_dir=ROOT / "prompts")


@pytest.fixture
def store(settings: Settings) -> AsyncStore:
    store = AsyncStore(settings.db_path)
    yield store
    store.close()


@pytest.fixture
def fake_model() -> FakeModel:
    return FakeModel()


@pytest.fixture
async def client(
    settings: Settings, store: AsyncStore, fake_model: FakeModel
) -> AsyncIterator[AsyncTestClient]:
    """An API client over the fake model; the worker runs only when a test drains it."""
    app = create_app(settings, store, fake_model, run_worker=False)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        yield client


@pytest.fixture
def worker(client: AsyncTestClient):  # type: ignore[no-untyped-def]
    return client.app.state.worker


@pytest.fixture
def deliverer(client: AsyncTestClient):  # type: ignore[no-untyped-def]
    return client.app.state.deliverer


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 that records what it gets."""
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
async def inbox(client: AsyncTestClient) -> dict[str, Any]:
    response = await client.post("/v1/classifications", json=INBOX)
    assert response.status_code == 201, response.text
    return response.json()["classification"]


async def upload(client: AsyncTestClient, cls_id: str, files: dict[str, bytes]) -> dict[str, Any]:
    """Upload `files` (name -> bytes) as one batch and return the batch."""
    parts = [("files", (name, data, "application/octet-stream")) for name, data in files.items()]
    response = await client.post(f"/v1/classifications/{cls_id}/batches", files=parts)
    assert response.status_code == 202, response.text
    return response.json()["batch"]
