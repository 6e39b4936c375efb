"""The one way docsort talks to a model: the official ollama client, at OLLAMA_HOST.

Ollama itself or the bundled server (app.modelserver) answer the same API, so nothing here
knows which one it is talking to.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import httpx

from .errors import ModelError, ModelUnavailable
from .trace import note_call, step
from .verdict.confidence import Token

TOP_LOGPROBS = 20


def _import_ollama() -> ModuleType:
    """ollama makes a default client from OLLAMA_HOST when it is imported, and cannot parse
    docsort's list of hosts (`a,b*2`): let it see the first host only, then put the list
    back. docsort never uses that default client."""
    hosts = os.environ.get("OLLAMA_HOST")
    if hosts is None or ("," not in hosts and "*" not in hosts):
        return importlib.import_module("ollama")
    first = hosts.split(",")[0]
    os.environ["OLLAMA_HOST"] = first.rpartition("*")[0] or first
    try:
        return importlib.import_module("ollama")
    finally:
        os.environ["OLLAMA_HOST"] = hosts


ollama = _import_ollama()


@dataclass(frozen=True)
class Timings:
    """The server's own account of one chat, in Ollama's fields: the prompt tokens it
    evaluated (not those its cache held), the tokens it generated, and the seconds of each."""

    prompt_eval_count: int
    prompt_seconds: float
    eval_count: int
    eval_seconds: float

    @classmethod
    def of(cls, response: Any) -> Timings:
        return cls(
            response.prompt_eval_count or 0,
            (response.prompt_eval_duration or 0) / 1e9,
            response.eval_count or 0,
            (response.eval_duration or 0) / 1e9,
        )


@dataclass(frozen=True)
class Reply:
    content: str
    tokens: list[Token] = field(default_factory=list)
    timings: Timings | None = None


# What an embedding model wants before a document, by a part of its name: e5 was trained
# with "query: " and "passage: "; docsort compares documents with documents, as queries.
EMBED_PREFIXES = {"e5": "query: ", "nomic-embed": "classification: "}


def embed_prefix(model: str) -> str:
    return next((prefix for part, prefix in EMBED_PREFIXES.items() if part in model), "")


class ModelClient:
    def __init__(
        self,
        host: str,
        model: str,
        timeout: float = 300.0,
        embed_model: str = "",
        slots: int = 0,
    ):
        """`slots`: how many jobs this host takes at once (0: DOCSORT_CONCURRENCY)."""
        self.host = host
        self.model = model
        self.slots = slots
        self.embed_model = embed_model  # "": nothing is embedded, so nothing is learned
        self.client = ollama.AsyncClient(host=host, timeout=timeout)

    def _unavailable(
        self, exc: Exception, model: str | None = None
    ) -> ModelUnavailable | ModelError:
        """An outage (no answer, no such model, the server overloaded) or an error about
        this request (a timeout, a refusal) that may be the document's doing."""
        model = model or self.model
        setting = "DOCSORT_MODEL" if model == self.model else "DOCSORT_EMBED_MODEL"
        if isinstance(exc, ollama.ResponseError) and exc.status_code == 404:
            return ModelUnavailable(
                f"the model server at {self.host} does not have the model '{model}':"
                f" run `ollama pull {model}`, or set {setting} to a model it has",
                code="model_not_found",
            )
        if isinstance(exc, httpx.TimeoutException):
            return ModelError(f"the model server at {self.host} did not answer in time: {exc}")
        if isinstance(exc, ollama.ResponseError) and exc.status_code not in (-1, 502, 503, 504):
            return ModelError(f"the model server at {self.host} refused: {exc}")
        return ModelUnavailable(f"the model server at {self.host} failed: {exc}")

    async def embed(self, text: str) -> list[float]:
        """One document's unit vector from the embedding model (cut to its context)."""
        try:
            with step("embed"):
                response = await self.client.embed(
                    model=self.embed_model, input=embed_prefix(self.embed_model) + text
                )
        except (ollama.ResponseError, ConnectionError, httpx.HTTPError) as exc:
            raise self._unavailable(exc, self.embed_model) from exc
        return list(response.embeddings[0])

    async def chat_json(
        self,
        system: str,
        user: str,
        schema: dict[str, Any],
        attempt: int = 0,
        *,
        max_tokens: int = 256,
        logprobs: bool = True,
    ) -> Reply:
        """Ask for one JSON answer constrained by `schema`, at most `max_tokens` long, with its
        token probabilities unless `logprobs` is false (a long answer needs none).

        The first attempt is deterministic; a retry samples a little, since asking the same
        question at temperature 0 would only get the same rejected answer back."""
        try:
            with step("model"):
                response = await self.client.chat(
                    model=self.model,
                    messages=[
                        {"role": "system", "content": system},
                        {"role": "user", "content": user},
                    ],
                    format=schema,
                    options={
                        "temperature": 0.4 if attempt else 0,
                        "seed": attempt,
                        "num_predict": max_tokens,
                        "repeat_penalty": 1.0,
                    },
                    stream=False,
                    logprobs=logprobs,
                    top_logprobs=TOP_LOGPROBS if logprobs else None,
                )
        except (ollama.ResponseError, ConnectionError, httpx.HTTPError) as exc:
            raise self._unavailable(exc) from exc
        tokens = [
            Token(lp.token, lp.logprob, [(t.token, t.logprob) for t in lp.top_logprobs or []])
            for lp in response.logprobs or []
        ]
        timings = Timings.of(response)
        note_call(timings)
        return Reply(response.message.content or "", tokens, timings)

    async def status(self) -> dict[str, Any]:
        """Whether the server answers and has the models, for /health."""
        status: dict[str, Any] = {"ok": True, "host": self.host, "model": self.model}
        if self.embed_model:
            status["embed_model"] = self.embed_model
        for model in filter(None, (self.model, self.embed_model)):
            try:
                await self.client.show(model)
            except (ollama.ResponseError, ConnectionError, httpx.HTTPError) as exc:
                return status | {"ok": False, "error": self._unavailable(exc, model).message}
        return status
