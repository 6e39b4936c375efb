"""Upload benchmark: serve the API with uvicorn in a subprocess, stream one full batch
(30 x 25 MB by default) to it, and print wall time, throughput and the server's peak RSS.

    .venv/bin/python scripts/bench_upload.py [--files 30] [--mb 25]

scripts/bench.py serves and uploads with the same functions, a worker and a model behind.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
BOUNDARY = "benchboundary"

SERVER = """
import logging
import sys
from pathlib import Path

import uvicorn

from app.api import create_app
from app.model import ModelClient
from app.settings import Settings
from app.store import AsyncStore

logging.getLogger("httpx").setLevel(logging.WARNING)  # the worker's model calls, else a line each
# A data folder and a port; then a model server and a model, for a worker to run too.
data_dir, port, *model = sys.argv[1:]
settings = Settings(data_dir=Path(data_dir), prompts_dir=Path("prompts"))
store = AsyncStore(settings.db_path)
if model:
    client = ModelClient(model[0], model[1], embed_model=settings.embed_model)
else:
    client = ModelClient("http://127.0.0.1:9", "x")
app = create_app(settings, store, client, run_worker=bool(model))
uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/v1/classifications").raise_for_status()
            return
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start") from None
            time.sleep(0.1)


def rss_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def multipart(count: int, size: int) -> Iterator[bytes]:
    block = bytes(range(256)) * 4096
    for i in range(count):
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files";'
            f' filename="file{i}.bin"\r\n\r\n'
        ).encode()
        for start in range(0, size, len(block)):
            yield block[: size - start]
        yield b"\r\n"
    yield f"--{BOUNDARY}--\r\n".encode()


@contextmanager
def serving(
    data_dir: Path, model: tuple[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The API in a subprocess, its URL and process; with a worker when `model` (a model
    server's URL and a model name) is given."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-c", SERVER, str(data_dir), str(port), *(model or ())]
    server = subprocess.Popen(args, cwd=ROOT)
    try:
        wait_until_up(url, server)
        yield url, server
    finally:
        server.terminate()
        server.wait(10)


def upload(url: str, pid: int, files: int, size: int) -> dict[str, Any]:
    """Stream one batch of `files` x `size` bytes to a new classification: the seconds it
    took and the server's memory before, at its peak and after (MB)."""
    classification = {"name": "Bench", "categories": [{"name": "Any"}]}
    created = httpx.post(f"{url}/v1/classifications", json=classification).json()
    path = f"/v1/classifications/{created['classification']['id']}/batches"
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    with httpx.Client(base_url=url, headers=headers, timeout=600) as http:
        http.post(path, content=multipart(1, MB)).raise_for_status()
        before = rss_mb(pid, "VmHWM")
        start = time.perf_counter()
        response = http.post(path, content=multipart(files, size))
        elapsed = time.perf_counter() - start
    response.raise_for_status()
    return {
        "files": files,
        "mb_each": size / MB,
        "status": response.status_code,
        "seconds": elapsed,
        "mb_per_second": files * size / MB / elapsed,
        "rss_before_mb": before,
        "rss_peak_mb": rss_mb(pid, "VmHWM"),
        "rss_after_mb": rss_mb(pid, "VmRSS"),
    }


def bench(files: int, size: int, data_dir: Path) -> None:
    with serving(data_dir) as (url, server):
        got = upload(url, server.pid, files, size)
    total_mb = files * size / MB
    print(f"uploaded    {files} x {size / MB:g} MB = {total_mb:g} MB -> {got['status']}")
    print(f"wall time   {got['seconds']:.2f} s")
    print(f"throughput  {got['mb_per_second']:.0f} MB/s")
    print(
        f"server RSS  peak {got['rss_peak_mb']:.0f} MB (before {got['rss_before_mb']:.0f} MB,"
        f" now {got['rss_after_mb']:.0f} MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=30)
    parser.add_argument("--mb", type=int, default=25, help="size of each file in MB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="docsort-bench-") as data_dir:
        bench(args.files, args.mb * MB, Path(data_dir))


if __name__ == "__main__":
    main()
