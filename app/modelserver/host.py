"""Which model is loaded, and the one thread allowed to use it: llama is not thread-safe."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import llama_cpp
from llama_cpp._internals import LlamaModel

from ..modelfetch import MODELS, ModelSpec, is_verified, model_path
from .embedder import EMBED_MODELS, Embedder, EmbedSpec, weights_path
from .engine import ApiError, LoadedModel

T = TypeVar("T")


def read_metadata(path: Path) -> dict[str, str]:
    """GGUF metadata without loading weights or a context: /api/show must stay cheap."""
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = LlamaModel(path_model=str(path), params=params, verbose=False)
    try:
        return model.metadata()
    finally:
        model.close()


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
        # Embedding runs on a thread of its own: it never waits behind a generation.
        self._embed_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")
        self.embedders = {name: Embedder(spec, n_threads) for name, spec in EMBED_MODELS.items()}

    def available(self) -> list[ModelSpec]:
        return [spec for spec in MODELS.values() if is_verified(spec, self.models_dir)]

    async def find(self, name: str) -> ModelSpec:
        spec = MODELS.get(name)
        if spec is None or not await asyncio.to_thread(is_verified, spec, self.models_dir):
            raise ApiError(404, f"model '{name}' not found")
        return spec

    def available_embedders(self) -> list[tuple[EmbedSpec, Path]]:
        found = []
        for embedder in self.embedders.values():
            try:
                found.append((embedder.spec, weights_path(embedder.spec)))
            except ApiError:
                continue
        return found

    def embedder(self, name: str) -> Embedder:
        if name not in self.embedders:
            raise ApiError(404, f"model '{name}' not found")
        return self.embedders[name]

    async def embed(
        self, name: str, texts: list[str], truncate: bool
    ) -> tuple[list[list[float]], int, int]:
        embedder = self.embedder(name)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._embed_thread, embedder.embed, texts, truncate)

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
        self._embed_thread.shutdown(wait=True, cancel_futures=True)
        if self.loaded is not None:
            self.loaded.close()
            self.loaded = None
