"""An Ollama-compatible model server over llama-cpp-python, for machines without Ollama.

docsort talks to a model only through the official `ollama` client. Where no Ollama can be
installed, this server answers the part of Ollama's API that the client uses (version, tags,
show, ps, chat, generate) with the same JSON shapes, so the app runs unchanged on either.

    python -m app.modelserver --port 11434 --models-dir DIR --threads N --ctx 4096
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import ipaddress
import json
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import llama_cpp
import msgspec
import numpy as np
import uvicorn
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import State
from litestar.enums import MediaType
from litestar.exceptions import HTTPException
from litestar.response import Stream
from llama_cpp import Llama, LlamaGrammar
from llama_cpp._internals import LlamaModel
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from llama_cpp.llama_grammar import JSON_GBNF

from app.modelfetch import MODELS, ModelSpec, default_models_dir, is_verified, model_path

# Reported by /api/version: a release whose API has everything served here (logprobs included).
OLLAMA_VERSION = "0.13.0"
# A model stays loaded until another one is asked for, so it never expires.
NEVER = "9999-12-31T23:59:59Z"

T = TypeVar("T")


class ApiError(Exception):
    """An error answered to the client as Ollama does: {"error": message} with a status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


# --- requests -------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Sampling:
    """Ollama's option defaults, so a request samples as it would on a real Ollama."""

    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.9
    min_p: float = 0.0
    repeat_penalty: float = 1.1
    seed: int = -1
    num_predict: int = -1
    stop: tuple[str, ...] = ()

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> Sampling:
        """Read the options this server honours; others (num_gpu, ...) are ignored, as Ollama
        ignores what a backend cannot use."""
        known = {name: value for name, value in (options or {}).items() if name in _SAMPLING}
        try:
            return msgspec.convert(known, cls)
        except msgspec.ValidationError as exc:
            raise ApiError(400, f"invalid options: {exc}") from None


_SAMPLING = frozenset(Sampling.__dataclass_fields__)


def grammar_for(fmt: str | dict[str, Any] | None) -> LlamaGrammar | None:
    if fmt in (None, ""):
        return None
    if fmt == "json":
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
    if isinstance(fmt, dict):
        try:
            return LlamaGrammar.from_json_schema(json.dumps(fmt), verbose=False)
        except Exception as exc:
            raise ApiError(400, f"invalid format schema: {exc}") from None
    raise ApiError(400, f'invalid format {fmt!r}: use "json" or a JSON schema')


# --- generation (runs on the model thread only) --------------------------------------------


@dataclass
class Piece:
    text: str
    logprobs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Finish:
    reason: str
    load_ns: int
    prompt_eval_count: int = 0
    prompt_eval_ns: int = 0
    eval_count: int = 0
    eval_ns: int = 0
    context: list[int] = field(default_factory=list)


class StopFilter:
    """Holds back text that may be the start of a stop sequence, so a stop is never sent."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [stop for stop in stops if stop]
        self.pending: list[Piece] = []

    def feed(self, piece: Piece) -> tuple[list[Piece], bool]:
        """Return the pieces safe to send, and whether a stop sequence was reached."""
        self.pending.append(piece)
        text = "".join(p.text for p in self.pending)
        hits = [i for stop in self.stops if (i := text.find(stop)) >= 0]
        if hits:
            return self._release(min(hits), truncate=True), True
        held = max(
            (n for stop in self.stops for n in range(1, len(stop)) if text.endswith(stop[:n])),
            default=0,
        )
        return self._release(len(text) - held, truncate=False), False

    def flush(self) -> list[Piece]:
        released, self.pending = self.pending, []
        return released

    def _release(self, upto: int, truncate: bool) -> list[Piece]:
        released: list[Piece] = []
        offset = 0
        while self.pending:
            piece = self.pending[0]
            if offset + len(piece.text) > upto:
                if truncate and offset < upto:
                    released.append(Piece(piece.text[: upto - offset], piece.logprobs))
                break
            released.append(self.pending.pop(0))
            offset += len(piece.text)
        if truncate:
            self.pending = []
        return released


class LoadedModel:
    """One llama.cpp model and its chat template. Not thread-safe: the host's model thread is
    its only user, which also keeps llama's KV cache for the next request's common prefix."""

    def __init__(self, spec: ModelSpec, path: Path, n_ctx: int, n_threads: int) -> None:
        started = time.perf_counter_ns()
        self.spec = spec
        self.llm = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            verbose=False,
            logits_all=False,
        )
        self.load_ns = time.perf_counter_ns() - started
        self._vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self._n_vocab = self.llm.n_vocab()
        meta = self.llm.metadata
        if "tokenizer.chat_template" not in meta:
            raise ApiError(500, f"model '{spec.name}' has no chat template")
        self._formatter = Jinja2ChatFormatter(
            template=meta["tokenizer.chat_template"],
            eos_token=self._text(self.llm.token_eos()),
            bos_token=self._text(self.llm.token_bos()),
        )

    def close(self) -> None:
        self.llm.close()

    def chat_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        prompt = self._formatter(messages=messages).prompt
        return self.llm.tokenize(prompt.encode(), add_bos=False, special=True)

    def raw_prompt(self, prompt: str) -> list[int]:
        return self.llm.tokenize(prompt.encode(), add_bos=True, special=True)

    def complete(
        self,
        tokens: list[int],
        sampling: Sampling,
        grammar: LlamaGrammar | None,
        top_logprobs: int | None,
        load_ns: int,
    ) -> Iterator[Piece | Finish]:
        """Sample after `tokens`, yielding text as it becomes final, then one Finish.

        Uses Llama.generate, which keeps the KV cache of the longest common prefix with the
        previous call. Logprobs are read from the raw logits of each step (before penalties,
        grammar and temperature), so they need no logits_all."""
        llm = self.llm
        room = llm.n_ctx() - len(tokens)
        if room <= 0:
            raise ApiError(
                400, f"prompt is too long: {len(tokens)} tokens, context window is {llm.n_ctx()}"
            )
        limit = room if sampling.num_predict < 0 else min(sampling.num_predict, room)
        if limit == 0:
            yield Finish(reason="length", load_ns=load_ns, prompt_eval_count=len(tokens))
            return
        llm.set_seed(sampling.seed if sampling.seed >= 0 else llama_cpp.LLAMA_DEFAULT_SEED)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = StopFilter(sampling.stop)
        generated: list[int] = []
        reason = "length"
        started = time.perf_counter_ns()
        first: int | None = None
        steps = llm.generate(
            tokens,
            temp=sampling.temperature,
            top_k=sampling.top_k,
            top_p=sampling.top_p,
            min_p=sampling.min_p,
            repeat_penalty=sampling.repeat_penalty,
            grammar=grammar,
        )
        for token in steps:
            if first is None:
                first = time.perf_counter_ns()
            if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                reason = "stop"
                break
            generated.append(token)
            logprobs = [] if top_logprobs is None else [self._logprob(token, top_logprobs)]
            ready, stopped = stops.feed(Piece(decoder.decode(llm.detokenize([token])), logprobs))
            yield from ready
            if stopped:
                reason = "stop"
                break
            if len(generated) >= limit:
                break
        yield from stops.flush()
        first = first or time.perf_counter_ns()
        yield Finish(
            reason=reason,
            load_ns=load_ns,
            prompt_eval_count=len(tokens),
            prompt_eval_ns=first - started,
            eval_count=len(generated),
            eval_ns=time.perf_counter_ns() - first,
            context=tokens + generated,
        )

    def _text(self, token: int) -> str:
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def _logprob(self, token: int, top: int) -> dict[str, Any]:
        pointer = llama_cpp.llama_get_logits_ith(self.llm.ctx, -1)
        logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).astype(np.float64)
        high = logits.max()
        logprobs = logits - (high + np.log(np.exp(logits - high).sum()))
        entry = self._token_logprob(token, logprobs[token])
        best = np.argpartition(logprobs, -top)[-top:] if top else np.array([], dtype=int)
        best = best[np.argsort(-logprobs[best], kind="stable")]
        entry["top_logprobs"] = [self._token_logprob(int(t), logprobs[t]) for t in best]
        return entry

    def _token_logprob(self, token: int, logprob: float) -> dict[str, Any]:
        raw = self.llm.detokenize([token], special=True)
        text = raw.decode("utf-8", errors="replace")
        return {"token": text, "logprob": float(logprob), "bytes": list(raw)}


def read_metadata(path: Path) -> dict[str, str]:
    """GGUF metadata without loading weights or a context: /api/show must stay cheap."""
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = LlamaModel(path_model=str(path), params=params, verbose=False)
    try:
        return model.metadata()
    finally:
        model.close()


# --- the model host -------------------------------------------------------------------------


class ModelHost:
    """Owns the one loaded model and the single thread that uses it.

    That thread is the lock: requests queue on it in arrival order, a swap can never happen
    under a running generation, and the event loop never waits on llama."""

    def __init__(self, models_dir: Path, n_ctx: int, n_threads: int) -> None:
        self.models_dir = models_dir
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.loaded: LoadedModel | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
        self._metadata: dict[str, dict[str, str]] = {}

    def available(self) -> list[ModelSpec]:
        return [spec for spec in MODELS.values() if is_verified(spec, self.models_dir)]

    async def find(self, name: str) -> ModelSpec:
        spec = MODELS.get(name)
        if spec is None or not await asyncio.to_thread(is_verified, spec, self.models_dir):
            raise ApiError(404, f"model '{name}' not found")
        return spec

    def path(self, spec: ModelSpec) -> Path:
        return model_path(spec, self.models_dir)

    async def metadata(self, spec: ModelSpec) -> dict[str, str]:
        if spec.name not in self._metadata:
            self._metadata[spec.name] = await asyncio.to_thread(read_metadata, self.path(spec))
        return self._metadata[spec.name]

    def load(self, spec: ModelSpec) -> tuple[LoadedModel, int]:
        """Load `spec` unless it is loaded; return it and the nanoseconds spent loading."""
        if self.loaded is not None and self.loaded.spec == spec:
            return self.loaded, 0
        if self.loaded is not None:
            self.loaded.close()
            self.loaded = None
        self.loaded = LoadedModel(spec, self.path(spec), self.n_ctx, self.n_threads)
        return self.loaded, self.loaded.load_ns

    async def run(
        self, spec: ModelSpec, job: Callable[[LoadedModel, int], Iterator[T]]
    ) -> AsyncIterator[T]:
        """Run `job` on the model thread and stream what it yields to the event loop.

        Leaving the iteration early (a client that hung up) stops the job at its next item."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        cancelled = threading.Event()

        def send(kind: str, value: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

        def work() -> None:
            try:
                model, load_ns = self.load(spec)
                for item in job(model, load_ns):
                    if cancelled.is_set():
                        return
                    send("item", item)
            except Exception as exc:
                send("error", exc)
            else:
                send("end", None)

        future = loop.run_in_executor(self._thread, work)
        try:
            while True:
                kind, value = await queue.get()
                if kind == "end":
                    return
                if kind == "error":
                    raise value
                yield value
        finally:
            cancelled.set()
            future.cancel()

    def close(self) -> None:
        self._thread.shutdown(wait=True, cancel_futures=True)
        if self.loaded is not None:
            self.loaded.close()
            self.loaded = None


# --- HTTP -----------------------------------------------------------------------------------


def error_response(status: int, message: str) -> Response[dict[str, str]]:
    return Response({"error": message}, status_code=status)


def details(spec: ModelSpec) -> dict[str, Any]:
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
    ]
    return {"models": models}


@post("/api/show", status_code=200)
async def show(request: Request, state: State) -> dict[str, Any]:
    body = decode_body(await request.body(), ShowRequest)
    host: ModelHost = state.host
    spec = await host.find(body.model or body.name)
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


@get("/api/ps")
async def ps(state: State) -> dict[str, Any]:
    host: ModelHost = state.host
    loaded = host.loaded
    if loaded is None:
        return {"models": []}
    spec = loaded.spec
    model = {
        "name": spec.name,
        "model": spec.name,
        "size": spec.size,
        "digest": spec.sha256,
        "details": details(spec),
        "expires_at": NEVER,
        "size_vram": 0,
        "context_length": host.n_ctx,
    }
    return {"models": [model]}


@post("/api/chat", status_code=200)
async def chat(request: Request) -> Response[Any] | Stream:
    body = decode_body(await request.body(), ChatRequest)
    spec = await request.app.state.host.find(body.model)
    sampling = Sampling.from_options(body.options)
    grammar = grammar_for(body.format)
    top = body.top_logprobs if body.logprobs else None
    messages = [{"role": m.role, "content": m.content or ""} for m in body.messages]

    def job(model: LoadedModel, load_ns: int) -> Iterator[Piece | Finish]:
        return model.complete(model.chat_prompt(messages), sampling, grammar, top, load_ns)

    chosen = job if messages else _load_only
    return await respond(request, spec, chosen, CHAT, body.stream is not False, body.logprobs)


@post("/api/generate", status_code=200)
async def generate(request: Request) -> Response[Any] | Stream:
    body = decode_body(await request.body(), GenerateRequest)
    spec = await request.app.state.host.find(body.model)
    sampling = Sampling.from_options(body.options)
    grammar = grammar_for(body.format)
    top = body.top_logprobs if body.logprobs else None
    prompt = body.prompt or ""
    messages = [{"role": "system", "content": body.system}] if body.system else []
    messages.append({"role": "user", "content": prompt})

    def job(model: LoadedModel, load_ns: int) -> Iterator[Piece | Finish]:
        tokens = model.raw_prompt(prompt) if body.raw else model.chat_prompt(messages)
        return model.complete(tokens, sampling, grammar, top, load_ns)

    chosen = job if prompt else _load_only
    return await respond(request, spec, chosen, GENERATE, body.stream is not False, body.logprobs)


def _api_error(request: Request, exc: ApiError) -> Response[dict[str, str]]:
    return error_response(exc.status, exc.message)


def _http_error(request: Request, exc: HTTPException) -> Response[dict[str, str]]:
    return error_response(exc.status_code, exc.detail)


def _internal_error(request: Request, exc: Exception) -> Response[dict[str, str]]:
    return error_response(500, str(exc) or type(exc).__name__)


def create_app(host: ModelHost) -> Litestar:
    return Litestar(
        route_handlers=[root, version, tags, show, ps, chat, generate],
        state=State({"host": host}),
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
        on_shutdown=[host.close],
        openapi_config=None,
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.modelserver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--models-dir", type=Path, default=None, help="default: $DOCSORT_MODEL_DIR")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--ctx", type=int, default=4096, help="context window in tokens")
    parser.add_argument("--preload", metavar="NAME", help="load this model before serving")
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(f"refusing to bind to {args.host}: this server has no authentication")
    host = ModelHost(args.models_dir or default_models_dir(), args.ctx, args.threads)
    if args.preload:
        spec = MODELS.get(args.preload)
        if spec is None or not is_verified(spec, host.models_dir):
            parser.error(f"cannot preload {args.preload!r}: not in {host.models_dir}")
        host.load(spec)
    names = ", ".join(spec.name for spec in host.available()) or "none"
    print(f"model server on http://{args.host}:{args.port} (models: {names})", file=sys.stderr)
    uvicorn.run(create_app(host), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
