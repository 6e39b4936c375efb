"""Run the bundled model server (app.modelserver) as a subprocess for tests.

A context manager rather than a fixture, so each conftest or test module picks its own scope:

    @pytest.fixture(scope="session")
    def model_server() -> Iterator[ModelServer]:
        with running_model_server("qwen2.5-coder:0.5b") as server:
            yield server
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.modelfetch import default_models_dir, ensure_model

ROOT = Path(__file__).resolve().parent.parent
TEST_MODEL = "qwen2.5-coder:0.5b"


@dataclass(frozen=True)
class ModelServer:
    url: str
    model: str
    process: subprocess.Popen[bytes]
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Poll /api/version until it answers; fail early, with the server's log, if it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"model server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/api/version", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"model server not ready after {timeout}s:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running_model_server(
    model: str = TEST_MODEL,
    *,
    models_dir: Path | None = None,
    ctx: int = 4096,
    threads: int | None = None,
    timeout: float = 120.0,
) -> Iterator[ModelServer]:
    """Fetch `model` if needed, serve it preloaded on a free loopback port, stop it after.

    models_dir defaults to $DOCSORT_MODEL_DIR (else ~/.cache/docsort/models)."""
    models_dir = models_dir or default_models_dir()
    ensure_model(model, models_dir)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="modelserver-") as tmp:
        log = Path(tmp) / "server.log"
        process = start_model_server(model, port, log, models_dir, ctx=ctx, threads=threads)
        try:
            wait_until_ready(url, process, log, timeout)
            yield ModelServer(url=url, model=model, process=process, log=log)
        finally:
            stop(process)


def start_model_server(
    model: str,
    port: int,
    log: Path,
    models_dir: Path | None = None,
    *,
    ctx: int = 4096,
    threads: int | None = None,
) -> subprocess.Popen[bytes]:
    """The bundled server as its own process on `port`, `model` preloaded, output to `log`."""
    cmd = [
        sys.executable,
        "-m",
        "app.modelserver",
        *("--host", "127.0.0.1", "--port", str(port)),
        *("--models-dir", str(models_dir or default_models_dir())),
        *("--ctx", str(ctx), "--preload", model),
        *(("--threads", str(threads)) if threads else ()),
    ]
    with log.open("ab") as out:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
