"""The HTTP side: the part of Ollama's API that the `ollama` client uses, in Ollama's shapes.

Requests are decoded here, generation is handed to the ModelHost, and its Pieces and Finish
are spelled as Ollama's chat or generate records, streamed as NDJSON or collected into one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State
from litestar.enums import MediaType
from litestar.exceptions import HTTPException
from litestar.response import Stream

from ..modelfetch import ModelSpec
from .access import refuse_foreign
from .embedder import EmbedSpec
from .engine import ApiError, Finish, LoadedModel, Piece, Sampling, grammar_for
from .forced import Forced
from .host import ModelHost

# Reported by /api/version: a release whose API has everything served here (logprobs included).
OLLAMA_VERSION = "0.13.0"
# A model stays loaded until another one is asked for, so it never expires.
NEVER = "9999-12-31T23:59:59Z"

T = TypeVar("T")


class ChatMessage(msgspec.Struct):
    role: str
    content: str | None = None


class _Completion(msgspec.Struct, kw_only=True):
    model: Annotated[str, msgspec.Meta(min_length=1)]
    stream: bool | None = None
    format: str | dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    logprobs: bool = False
    top_logprobs: Annotated[int, msgspec.Meta(ge=0, le=20)] = 0


class ChatRequest(_Completion, kw_only=True):
    messages: list[ChatMessage] = []


class GenerateRequest(_Completion, kw_only=True):
    prompt: str | None = None
    system: str | None = None
    raw: bool = False


class EmbedRequest(msgspec.Struct, kw_only=True):
    model: Annotated[str, msgspec.Meta(min_length=1)]
    input: str | list[str] = ""
    truncate: bool = True
    dimensions: Annotated[int, msgspec.Meta(ge=1)] | None = None
    options: dict[str, Any] | None = None
    keep_alive: str | float | None = None


class EmbeddingsRequest(msgspec.Struct, kw_only=True):
    """The older /api/embeddings: one prompt, one vector, never truncated by the client."""

    model: Annotated[str, msgspec.Meta(min_length=1)]
    prompt: str = ""
    options: dict[str, Any] | None = None
    keep_alive: str | float | None = None


class ShowRequest(msgspec.Struct):
    model: str = ""
    name: str = ""


def decode_body(body: bytes, kind: type[T]) -> T:
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise ApiError(400, f"invalid request: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, f"invalid JSON: {exc}") from None


def error_response(status: int, message: str) -> Response[dict[str, str]]:
    return Response({"error": message}, status_code=status)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def details(spec: ModelSpec | EmbedSpec) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": spec.family,
        "families": [spec.family],
        "parameter_size": spec.parameter_size,
        "quantization_level": spec.quantization_level,
    }


def _modified_at(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat().replace("+00:00", "Z")


def _model_info(metadata: Mapping[str, str]) -> dict[str, Any]:
    """Ollama gives numbers as numbers; llama.cpp gives every value as a string."""

    def value(text: str) -> Any:
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return {"true": True, "false": False}.get(text, text)

    return {k: value(v) for k, v in metadata.items() if k != "tokenizer.chat_template"}


def _finish_fields(finish: Finish, started: int) -> dict[str, Any]:
    return {
        "done": True,
        "done_reason": finish.reason,
        "total_duration": time.perf_counter_ns() - started,
        "load_duration": finish.load_ns,
        "prompt_eval_count": finish.prompt_eval_count,
        "prompt_eval_duration": finish.prompt_eval_ns,
        "eval_count": finish.eval_count,
        "eval_duration": finish.eval_ns,
    }


@dataclass(frozen=True)
class Shape:
    """How one endpoint spells a chunk of text and its final record."""

    text_fields: Callable[[str], dict[str, Any]]
    final_fields: Callable[[Finish], dict[str, Any]]


CHAT = Shape(
    text_fields=lambda text: {"message": {"role": "assistant", "content": text}},
    final_fields=lambda finish: {},
)
GENERATE = Shape(
    text_fields=lambda text: {"response": text},
    final_fields=lambda finish: {"context": finish.context},
)


async def respond(
    request: Request,
    spec: ModelSpec,
    job: Callable[[LoadedModel, int], Iterator[Piece | Finish]],
    shape: Shape,
    stream: bool,
    with_logprobs: bool,
) -> Response[Any] | Stream:
    """Start `job`; answer its first event's failure with a status, then stream or collect."""
    started = time.perf_counter_ns()
    host: ModelHost = request.app.state.host
    events = host.run(spec, job)
    try:
        first = await anext(events)
    except ApiError as exc:
        return error_response(exc.status, exc.message)

    def record(event: Piece | Finish) -> dict[str, Any]:
        body: dict[str, Any] = {"model": spec.name, "created_at": _now()}
        if isinstance(event, Piece):
            body |= shape.text_fields(event.text) | {"done": False}
            if with_logprobs:
                body["logprobs"] = event.logprobs
            return body
        fields = shape.text_fields("") | _finish_fields(event, started)
        return body | fields | shape.final_fields(event)

    if not stream:
        pieces: list[Piece] = []
        async for event in _chain(first, events):
            if isinstance(event, Finish):
                body = record(event) | shape.text_fields("".join(p.text for p in pieces))
                if with_logprobs:
                    body["logprobs"] = [lp for p in pieces for lp in p.logprobs]
                return Response(body)
            pieces.append(event)
        raise ApiError(500, "generation ended without a result")

    async def lines() -> AsyncIterator[bytes]:
        try:
            async for event in _chain(first, events):
                yield msgspec.json.encode(record(event)) + b"\n"
        except Exception as exc:
            yield msgspec.json.encode({"error": str(exc)}) + b"\n"
        finally:
            await events.aclose()

    return Stream(lines(), media_type="application/x-ndjson")


async def _chain(first: T, rest: AsyncIterator[T]) -> AsyncIterator[T]:
    yield first
    async for item in rest:
        yield item


def _load_only(model: LoadedModel, load_ns: int) -> Iterator[Piece | Finish]:
    """Ollama loads the model and answers done_reason "load" to an empty prompt."""
    yield Finish(reason="load", load_ns=load_ns)


@get("/", media_type=MediaType.TEXT)
async def root() -> str:
    return "Ollama is running"


@get("/api/version")
async def version() -> dict[str, str]:
    return {"version": OLLAMA_VERSION}


@get("/api/tags")
async def tags(state: State) -> dict[str, Any]:
    host: ModelHost = state.host
    specs = await asyncio.to_thread(host.available)
    embedders = await asyncio.to_thread(host.available_embedders)
    models = [
        {
            "name": spec.name,
            "model": spec.name,
            "modified_at": _modified_at(host.path(spec)),
            "size": spec.size,
            "digest": spec.sha256,
            "details": details(spec),
        }
        for spec in specs
    ] + [
        {
            "name": spec.name,
            "model": spec.name,
            "modified_at": _modified_at(path),
            "size": spec.size,
            "digest": spec.sha256,
            "details": details(spec),
        }
        for spec, path in embedders
    ]
    return {"models": models}


@post("/api/show", status_code=200)
async def show(request: Request, state: State) -> dict[str, Any]:
    body = decode_body(await request.body(), ShowRequest)
    host: ModelHost = state.host
    name = body.model or body.name
    if name in host.embedders:
        return await _show_embedder(host, name)
    spec = await host.find(name)
    metadata = await host.metadata(spec)
    template = metadata.get("tokenizer.chat_template", "")
    parameters = f"num_ctx {host.n_ctx}\nnum_thread {host.n_threads}"
    return {
        "modelfile": f'FROM {host.path(spec)}\nTEMPLATE """{template}"""\n'
        + "".join(f"PARAMETER {line}\n" for line in parameters.splitlines()),
        "parameters": parameters,
        "template": template,
        "details": details(spec),
        "model_info": _model_info(metadata),
        "capabilities": ["completion"],
        "modified_at": _modified_at(host.path(spec)),
    }


async def _show_embedder(host: ModelHost, name: str) -> dict[str, Any]:
    spec = host.embedder(name).spec
    available = dict(await asyncio.to_thread(host.available_embedders))
    if spec not in available:
        raise ApiError(404, f"model '{name}' not found")
    parameters = f"num_ctx {spec.context}"
    return {
        "modelfile": f"FROM {available[spec]}\nPARAMETER {parameters}\n",
        "parameters": parameters,
        "template": "",
        "details": details(spec),
        "model_info": {"general.architecture": spec.family, "bert.context_length": spec.context},
        "capabilities": ["embedding"],
        "modified_at": _modified_at(available[spec]),
    }


@get("/api/ps")
async def ps(state: State) -> dict[str, Any]:
    host: ModelHost = state.host
    models = []
    if host.loaded is not None:
        spec = host.loaded.spec
        models.append(
            {
                "name": spec.name,
                "model": spec.name,
                "size": spec.size,
                "digest": spec.sha256,
                "details": details(spec),
                "expires_at": NEVER,
                "size_vram": 0,
                "context_length": host.n_ctx,
            }
        )
    for embedder in host.embedders.values():
        if embedder.loaded_at:
            models.append(
                {
                    "name": embedder.spec.name,
                    "model": embedder.spec.name,
                    "size": embedder.spec.size,
                    "digest": embedder.spec.sha256,
                    "details": details(embedder.spec),
                    "expires_at": NEVER,
                    "size_vram": 0,
                    "context_length": embedder.spec.context,
                }
            )
    return {"models": models}


@post("/api/chat", status_code=200)
async def chat(request: Request) -> Response[Any] | Stream:
    body = decode_body(await request.body(), ChatRequest)
    spec = await request.app.state.host.find(body.model)
    sampling = Sampling.from_options(body.options)
    grammar = grammar_for(body.format)
    forced = Forced.of(body.format)
    top = body.top_logprobs if body.logprobs else None
    messages = [{"role": m.role, "content": m.content or ""} for m in body.messages]

    def job(model: LoadedModel, load_ns: int) -> Iterator[Piece | Finish]:
        prompt = model.chat_prompt(messages)
        return model.complete(prompt, sampling, grammar, top, load_ns, forced)

    chosen = job if messages else _load_only
    return await respond(request, spec, chosen, CHAT, body.stream is not False, body.logprobs)


@post("/api/generate", status_code=200)
async def generate(request: Request) -> Response[Any] | Stream:
    body = decode_body(await request.body(), GenerateRequest)
    spec = await request.app.state.host.find(body.model)
    sampling = Sampling.from_options(body.options)
    grammar = grammar_for(body.format)
    forced = Forced.of(body.format)
    top = body.top_logprobs if body.logprobs else None
    prompt = body.prompt or ""
    messages = [{"role": "system", "content": body.system}] if body.system else []
    messages.append({"role": "user", "content": prompt})

    def job(model: LoadedModel, load_ns: int) -> Iterator[Piece | Finish]:
        tokens = model.raw_prompt(prompt) if body.raw else model.chat_prompt(messages)
        return model.complete(tokens, sampling, grammar, top, load_ns, forced)

    chosen = job if prompt else _load_only
    return await respond(request, spec, chosen, GENERATE, body.stream is not False, body.logprobs)


def _unit(vector: list[float], dimensions: int | None) -> list[float]:
    """Ollama cuts a vector to `dimensions` and normalises it again."""
    if dimensions is None or dimensions >= len(vector):
        return vector
    cut = vector[:dimensions]
    norm = sum(v * v for v in cut) ** 0.5 or 1.0
    return [v / norm for v in cut]


@post("/api/embed", status_code=200)
async def embed(request: Request, state: State) -> dict[str, Any]:
    body = decode_body(await request.body(), EmbedRequest)
    started = time.perf_counter_ns()
    # Ollama answers an empty string with no vectors: the model is only loaded.
    texts = ([body.input] if body.input else []) if isinstance(body.input, str) else body.input
    vectors, tokens, load_ns = await state.host.embed(body.model, texts, body.truncate)
    return {
        "model": body.model,
        "embeddings": [_unit(v, body.dimensions) for v in vectors],
        "total_duration": time.perf_counter_ns() - started,
        "load_duration": load_ns,
        "prompt_eval_count": tokens,
    }


@post("/api/embeddings", status_code=200)
async def embeddings(request: Request, state: State) -> dict[str, Any]:
    body = decode_body(await request.body(), EmbeddingsRequest)
    if not body.prompt:
        state.host.embedder(body.model)
        return {"embedding": []}
    vectors, _, _ = await state.host.embed(body.model, [body.prompt], True)
    return {"embedding": vectors[0]}


def _api_error(request: Request, exc: ApiError) -> Response[dict[str, str]]:
    return error_response(exc.status, exc.message)


def _http_error(request: Request, exc: HTTPException) -> Response[dict[str, str]]:
    return error_response(exc.status_code, exc.detail)


def _internal_error(request: Request, exc: Exception) -> Response[dict[str, str]]:
    return error_response(500, str(exc) or type(exc).__name__)


def create_app(host: ModelHost) -> Litestar:
    return Litestar(
        route_handlers=[root, version, tags, show, ps, chat, generate, embed, embeddings],
        state=State({"host": host}),
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
        on_shutdown=[host.close],
        before_request=refuse_foreign,
        openapi_config=None,
    )
