"""Upload benchmark: serve the API with uvicorn in a subprocess, stream one full batch
(30 x 25 MB by default) to it, and print wall time, throughput and the server's peak RSS.

    .venv/bin/python scripts/bench_upload.py [--files 30] [--mb 25]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
BOUNDARY = "benchboundary"

SERVER = """
import sys
from pathlib import Path

import uvicorn

from app.api import create_app
from app.model import ModelClient
from app.settings import Settings
from app.store import AsyncStore

settings = Settings(data_dir=Path(sys.argv[1]), prompts_dir=Path("prompts"))
store = AsyncStore(settings.db_path)
app = create_app(settings, store, ModelClient("http://127.0.0.1:9", "x"), run_worker=False)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
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


def bench(files: int, size: int, data_dir: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(data_dir), str(port)], cwd=ROOT)
    try:
        wait_until_up(url, server)
        classification = {"name": "Bench", "categories": [{"name": "Any"}]}
        created = httpx.post(f"{url}/v1/classifications", json=classification).json()
        path = f"/v1/classifications/{created['classification']['id']}/batches"
        headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
        with httpx.Client(base_url=url, headers=headers, timeout=600) as http:
            http.post(path, content=multipart(1, MB)).raise_for_status()
            baseline = rss_mb(server.pid, "VmHWM")
            start = time.perf_counter()
            response = http.post(path, content=multipart(files, size))
            elapsed = time.perf_counter() - start
        response.raise_for_status()
        total_mb = files * size / MB
        print(f"uploaded    {files} x {size / MB:g} MB = {total_mb:g} MB -> {response.status_code}")
        print(f"wall time   {elapsed:.2f} s")
        print(f"throughput  {total_mb / elapsed:.0f} MB/s")
        peak, now = rss_mb(server.pid, "VmHWM"), rss_mb(server.pid, "VmRSS")
        print(f"server RSS  peak {peak:.0f} MB (before {baseline:.0f} MB, now {now:.0f} MB)")
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=30)
    parser.add_argument("--mb", type=int, default=25, help="size of each file in MB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="docsort-bench-") as data_dir:
        bench(args.files, args.mb * MB, Path(data_dir))


if __name__ == "__main__":
    main()
