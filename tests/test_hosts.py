"""Several model hosts: OLLAMA_HOST lists them, the worker spreads jobs over those that
answer, and /health shows each."""

from __future__ import annotations

from dataclasses import replace

import pytest
from litestar.testing import AsyncTestClient

from app.api import create_app
from app.errors import ModelUnavailable
from app.settings import Settings

from .conftest import BASE_URL, INBOX, FakeModel, upload


def test_ollama_host_lists_hosts_each_with_its_slots():
    settings = Settings(ollama_host="http://a:11434, b:11434*2 ,", concurrency=1)
    assert settings.model_hosts == [("http://a:11434", 1), ("http://b:11434", 2)]
    assert Settings().model_hosts == [("http://127.0.0.1:11434", 1)]
    for bad in ("http://a*0", "http://a*x", " , "):
        with pytest.raises(ValueError, match="OLLAMA_HOST"):
            Settings(ollama_host=bad)


class DownModel(FakeModel):
    """A host that does not answer."""

    async def chat_json(self, *args, **kwargs):
        self.calls.append({})
        raise ModelUnavailable("connection refused")

    async def embed(self, text):
        raise ModelUnavailable("connection refused")

    async def status(self):
        return {"ok": False, "host": self.host, "model": self.model, "error": "refused"}


async def test_jobs_go_to_the_host_that_answers_and_health_lists_both(settings, store):
    down, up = DownModel(), FakeModel()
    down.host, up.host = "http://down:1", "http://up:2"
    settings = replace(settings, embed_model="")
    app = create_app(settings, store, [down, up], run_worker=False)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        inbox = (await client.post("/v1/classifications", json=INBOX)).json()["classification"]
        batch = await upload(client, inbox["id"], {"a.txt": b"Invoice", "b.txt": b"Receipt"})
        worker = app.state.worker
        assert await worker.drain() == 3  # one run found `down` down; both ran on `up`
        view = (await client.get(f"/v1/classifications/{inbox['id']}/batches/{batch['id']}")).json()
        assert [f["status"] for f in view["files"]] == ["processed", "processed"]
        assert len(down.calls) == 1 and len(up.calls) == 2
        health = (await client.get("/health")).json()
    assert health["status"] == "ok" and health["model"]["host"] == "http://up:2"
    assert [h["host"] for h in health["hosts"]] == ["http://down:1", "http://up:2"]
    assert [h["worker"]["state"] for h in health["hosts"]] == ["waiting_for_model", "working"]
    assert health["hosts"][0]["ok"] is False and health["hosts"][1]["slots"] == 1
    assert health["worker"]["state"] == "working"
