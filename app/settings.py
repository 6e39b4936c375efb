"""Settings read from environment variables, with defaults that work on a laptop."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .verdict.evidence import Weighing

MB = 1024 * 1024


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _hosts(name: str) -> tuple[str, ...]:
    """A comma-separated list of host names, lower-cased."""
    return tuple(h.strip().lower() for h in _env(name, "").split(",") if h.strip())


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    prompts_dir: Path = Path("prompts")
    host: str = "127.0.0.1"
    port: int = 8000
    # Host headers the API answers to besides loopback and `host` ("*": any).
    allowed_hosts: tuple[str, ...] = ()
    ollama_host: str = "http://127.0.0.1:11434"
    model: str = "qwen2.5-coder:1.5b"
    # What documents are embedded with, to learn from labelled ones; "" learns nothing.
    embed_model: str = "multilingual-e5-small"
    model_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "docsort" / "models")
    model_server_port: int = 11434
    model_threads: int = os.cpu_count() or 2
    model_ctx: int = 4096
    model_timeout: float = 300.0
    concurrency: int = 1
    max_attempts: int = 3
    # A job's time limit, reading and OCR included; a run silent this long is a dead one's.
    job_timeout: float = 600.0
    stale_seconds: float = 30.0
    answer_retries: int = 2
    # How the model's answer and the keywords found are weighed (app/verdict/evidence.py).
    model_weight: float = 0.2
    keyword_hit_rate: float = 0.5
    keyword_stray_rate: float = 0.05
    # How much labelled examples count, and how sure they must be to decide without the model.
    examples_weight: float = 0.75
    examples_sure: float = 0.9999
    # What the model reads of a document, and what keywords are looked for in (its start
    # and more); approximate: 4 characters a token (app/reading/budget.py).
    text_tokens: int = 180
    keyword_text_tokens: int = 500
    embed_tokens: int = 250  # what is embedded for the examples to learn from
    max_files: int = 30
    max_file_bytes: int = 25 * MB
    extract_tokens: int = 1000  # the text an extraction reads; more than a verdict needs
    # Webhooks: beyond loopback, only these hosts ("*": any) may receive events.
    webhook_allowed_hosts: tuple[str, ...] = ()
    webhook_timeout: float = 10.0
    webhook_max_attempts: int = 10
    webhook_retry_seconds: float = 5.0

    def __post_init__(self) -> None:
        # Bad settings fail here, before a model server starts.
        _ = self.weighing, self.model_hosts
        if min(self.text_tokens, self.keyword_text_tokens, self.embed_tokens) < 1:
            raise ValueError(
                "DOCSORT_TEXT_TOKENS, DOCSORT_KEYWORD_TEXT_TOKENS and DOCSORT_EMBED_TOKENS"
                f" must be at least 1 (got {self.text_tokens}, {self.keyword_text_tokens}"
                f" and {self.embed_tokens})"
            )

    @classmethod
    def from_env(cls) -> Settings:
        d = cls()
        return cls(
            data_dir=Path(_env("DOCSORT_DATA_DIR", str(d.data_dir))),
            prompts_dir=Path(_env("DOCSORT_PROMPTS_DIR", str(d.prompts_dir))),
            host=_env("DOCSORT_HOST", d.host),
            port=int(_env("DOCSORT_PORT", str(d.port))),
            allowed_hosts=_hosts("DOCSORT_ALLOWED_HOSTS"),
            ollama_host=_env("OLLAMA_HOST", d.ollama_host),
            model=_env("DOCSORT_MODEL", d.model),
            embed_model=_env("DOCSORT_EMBED_MODEL", d.embed_model),
            model_dir=Path(_env("DOCSORT_MODEL_DIR", str(d.model_dir))),
            model_threads=int(_env("DOCSORT_MODEL_THREADS", str(d.model_threads))),
            model_ctx=int(_env("DOCSORT_MODEL_CTX", str(d.model_ctx))),
            model_timeout=float(_env("DOCSORT_MODEL_TIMEOUT", str(d.model_timeout))),
            concurrency=int(_env("DOCSORT_CONCURRENCY", str(d.concurrency))),
            max_attempts=int(_env("DOCSORT_MAX_ATTEMPTS", str(d.max_attempts))),
            job_timeout=float(_env("DOCSORT_JOB_TIMEOUT", str(d.job_timeout))),
            stale_seconds=float(_env("DOCSORT_STALE_SECONDS", str(d.stale_seconds))),
            answer_retries=int(_env("DOCSORT_ANSWER_RETRIES", str(d.answer_retries))),
            model_weight=float(_env("DOCSORT_MODEL_WEIGHT", str(d.model_weight))),
            keyword_hit_rate=float(_env("DOCSORT_KEYWORD_HIT_RATE", str(d.keyword_hit_rate))),
            keyword_stray_rate=float(_env("DOCSORT_KEYWORD_STRAY_RATE", str(d.keyword_stray_rate))),
            examples_weight=float(_env("DOCSORT_EXAMPLES_WEIGHT", str(d.examples_weight))),
            examples_sure=float(_env("DOCSORT_EXAMPLES_SURE", str(d.examples_sure))),
            text_tokens=int(_env("DOCSORT_TEXT_TOKENS", str(d.text_tokens))),
            keyword_text_tokens=int(
                _env("DOCSORT_KEYWORD_TEXT_TOKENS", str(d.keyword_text_tokens))
            ),
            embed_tokens=int(_env("DOCSORT_EMBED_TOKENS", str(d.embed_tokens))),
            max_files=int(_env("DOCSORT_MAX_FILES", str(d.max_files))),
            max_file_bytes=int(_env("DOCSORT_MAX_FILE_MB", str(d.max_file_bytes // MB))) * MB,
            extract_tokens=int(_env("DOCSORT_EXTRACT_TEXT_TOKENS", str(d.extract_tokens))),
            webhook_allowed_hosts=_hosts("DOCSORT_WEBHOOK_ALLOWED_HOSTS"),
            webhook_timeout=float(_env("DOCSORT_WEBHOOK_TIMEOUT", str(d.webhook_timeout))),
            webhook_max_attempts=int(
                _env("DOCSORT_WEBHOOK_MAX_ATTEMPTS", str(d.webhook_max_attempts))
            ),
            webhook_retry_seconds=float(
                _env("DOCSORT_WEBHOOK_RETRY_SECONDS", str(d.webhook_retry_seconds))
            ),
        )

    @property
    def model_hosts(self) -> list[tuple[str, int]]:
        """OLLAMA_HOST's servers, comma-separated, each with how many jobs it takes at once:
        `http://box:11434*2` takes two; with no `*n`, DOCSORT_CONCURRENCY. Ollama's own
        `host:port` form (no scheme) is accepted."""
        hosts = []
        for entry in filter(None, (e.strip() for e in self.ollama_host.split(","))):
            url, star, slots = entry.rpartition("*") if "*" in entry else (entry, "", "")
            if star and not (slots.isdigit() and int(slots) > 0):
                raise ValueError(f"OLLAMA_HOST: {entry!r} should end in *n, n at least 1")
            url = url if "://" in url else f"http://{url}"
            hosts.append((url.rstrip("/"), int(slots) if star else self.concurrency))
        if not hosts:
            raise ValueError("OLLAMA_HOST names no model server")
        return hosts

    @property
    def model_host(self) -> str:
        """The first model server: the one `make run` starts when nothing answers there."""
        return self.model_hosts[0][0]

    @property
    def read_tokens(self) -> int:
        """How much of a document the worker reads to classify it."""
        return max(self.text_tokens, self.keyword_text_tokens, self.embed_tokens)

    @property
    def weighing(self) -> Weighing:
        return Weighing(
            self.model_weight, self.keyword_hit_rate, self.keyword_stray_rate, self.examples_weight
        )

    @property
    def db_path(self) -> Path:
        return self.data_dir / "docsort.db"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"
