"""The one way docsort talks to a model: the official ollama client, at OLLAMA_HOST.

Ollama itself or the bundled server (app.modelserver) answer the same API, so nothing here
knows which one it is talking to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import ollama

from .errors import ModelUnavailable
from .verdict.confidence import Token

TOP_LOGPROBS = 20


@dataclass(frozen=True)
class Reply:
    content: str
    tokens: list[Token] = field(default_factory=list)


class ModelClient:
    def __init__(self, host: str, model: str, timeout: float = 300.0):
        self.host = host
        self.model = model
        self.client = ollama.AsyncClient(host=host, timeout=timeout)

    def _unavailable(self, exc: Exception) -> ModelUnavailable:
        if isinstance(exc, ollama.ResponseError) and exc.status_code == 404:
            return ModelUnavailable(
                f"the model server at {self.host} does not have the model '{self.model}':"
                f" run `ollama pull {self.model}`, or set DOCSORT_MODEL to a model it has",
                code="model_not_found",
            )
        return ModelUnavailable(f"the model server at {self.host} failed: {exc}")

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
            response = await self.client.chat(
                model=self.model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
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
        return Reply(response.message.content or "", tokens)

    async def status(self) -> dict[str, Any]:
        """Whether the server answers and has the model, for /health."""
        try:
            await self.client.show(self.model)
        except (ollama.ResponseError, ConnectionError, httpx.HTTPError) as exc:
            return {
                "ok": False,
                "host": self.host,
                "model": self.model,
                "error": self._unavailable(exc).message,
            }
        return {"ok": True, "host": self.host, "model": self.model}
