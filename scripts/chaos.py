"""Chaos run: generated files in batches through the real API process and the real bundled
model server, while the API is killed with -9 at random moments and the model server is
stopped for a while, with a webhook receiver that fails a share of deliveries. Then the
same run without faults, for the wall time. Prints figures and writes reports/chaos-*.json.

    .venv/bin/python scripts/chaos.py [--files 100] [--batches 4] [--kills 10] [--outages 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.modelfetch import default_models_dir, ensure_model  # noqa: E402
from app.webhooks import verify  # noqa: E402

KINDS = {
    "Invoice": "Invoice no. {n}. Bill to ACME GmbH. Net 30. Total due: {n}.00 EUR.",
    "Contract": "Service agreement no. {n} between the parties. Whereas the provider agrees.",
    "Receipt": "Receipt {n}. Coffee 3.20, bread 2.10. Cash 10.00, change 4.70. Thank you!",
    "none": "A four-line poem about fog no. {n}: grey, soft and slow, over the harbour.",
}
CLASSIFICATION = {
    "name": "Chaos",
    "categories": [
        {"name": "Invoice", "description": "Bills", "keywords": ["invoice", "total due"]},
        {"name": "Contract", "description": "Agreements", "keywords": ["agreement"]},
        {"name": "Receipt", "description": "Till receipts", "keywords": ["receipt", "cash"]},
    ],
}
EXTRACTION = {"name": "Totals", "fields": [{"name": "total", "type": "number"}]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait(predicate: Any, timeout: float, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError("condition not met in time")


class Receiver:
    """Fails `fail_share` of POSTs at random with a 500; keeps every one it got."""

    def __init__(self, fail_share: float, rng: random.Random):
        self.got: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status = 500 if rng.random() < fail_share else 204
                receiver.got.append((dict(self.headers), body, status))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@dataclass
class Processes:
    """The API and the model server, each started, killed and started again."""

    env: dict[str, str]
    model: str
    model_port: int
    log: Path
    api: subprocess.Popen[bytes] | None = None
    model_server: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.env['DOCSORT_PORT']}"

    def start_api(self) -> None:
        with self.log.open("ab") as out:
            self.api = subprocess.Popen(
                [sys.executable, "-m", "app", "serve"], cwd=ROOT, env=self.env, stdout=out,
                stderr=out,
            )  # fmt: skip
        wait(lambda: httpx.get(f"{self.base}/v1/classifications", timeout=2).status_code, 60, 0.1)

    def kill_api(self) -> None:
        assert self.api is not None
        self.api.send_signal(signal.SIGKILL)
        self.api.wait()

    def start_model(self) -> None:
        cmd = [
            sys.executable, "-m", "app.modelserver", "--host", "127.0.0.1",
            "--port", str(self.model_port), "--models-dir", str(default_models_dir()),
            "--preload", self.model,
        ]  # fmt: skip
        with self.log.open("ab") as out:
            self.model_server = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=out)
        url = f"http://127.0.0.1:{self.model_port}/api/version"
        wait(lambda: httpx.get(url, timeout=2).status_code == 200, 120, 0.2)

    def stop_model(self) -> None:
        assert self.model_server is not None
        self.model_server.terminate()
        self.model_server.wait(30)

    def stop_all(self) -> None:
        for process in (self.api, self.model_server):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(60)


@dataclass
class Result:
    faults: bool
    wall_seconds: float = 0.0
    files: int = 0
    processed: int = 0
    failed: int = 0
    failed_errors: list[str] = field(default_factory=list)
    verdict_events: int = 0
    files_classified_more_than_once: int = 0
    files_without_verdict_event: int = 0
    extraction_events: int = 0
    events_not_delivered: int = 0
    deliveries_received: int = 0
    receiver_failures: int = 0
    duplicate_receipts: int = 0
    bad_signatures: int = 0
    kills: int = 0
    killed_mid_upload: int = 0
    outages: int = 0
    stray_paths: list[str] = field(default_factory=list)
    max_attempts_seen: int = 0


def upload(base: str, cls_id: str, files: list[tuple[str, bytes]]) -> str:
    parts = [("files", item) for item in files]
    response = httpx.post(f"{base}/v1/classifications/{cls_id}/batches", files=parts, timeout=60)
    response.raise_for_status()
    return response.json()["batch"]["id"]


def interrupted_upload(base: str, cls_id: str, kill: Any) -> None:
    """A streamed upload the API is killed in the middle of."""

    def body() -> Any:
        yield b'--chaos\r\nContent-Disposition: form-data; name="files"; filename="big.bin"\r\n\r\n'
        for i in range(200):
            if i == 20:
                kill()
            yield b"x" * 65536

    try:
        httpx.post(
            f"{base}/v1/classifications/{cls_id}/batches",
            content=body(),
            headers={"content-type": "multipart/form-data; boundary=chaos"},
            timeout=30,
        )
    except httpx.HTTPError:
        pass


def kills(procs: Processes, count: int, gap: float, rng: random.Random, result: Result) -> None:
    """Kill the API with -9 `count` times, at random moments (`gap` seconds apart on
    average), starting it again each time."""
    for _ in range(count):
        time.sleep(rng.expovariate(1 / gap))
        procs.kill_api()
        result.kills += 1
        procs.start_api()


def outages(
    procs: Processes, count: int, seconds: float, rng: random.Random, result: Result
) -> None:
    """Stop the model server `count` times for `seconds`, at random moments in the first
    minute and a half."""
    started = time.monotonic()
    for at in sorted(rng.uniform(5, 90) for _ in range(count)):
        time.sleep(max(0.0, at - (time.monotonic() - started)))
        procs.stop_model()
        result.outages += 1
        time.sleep(seconds)
        procs.start_model()
        started -= seconds


def check(procs: Processes, data: Path, receiver: Receiver, secret: str, result: Result) -> None:
    db = sqlite3.connect(data / "docsort.db")
    rows = db.execute("SELECT id, status, error, attempts FROM files").fetchall()
    result.files = len(rows)
    result.processed = sum(r[1] == "processed" for r in rows)
    result.failed = sum(r[1] == "failed" for r in rows)
    result.failed_errors = sorted({r[2] for r in rows if r[1] == "failed"})
    result.max_attempts_seen = max(r[3] for r in rows)
    result.events_not_delivered = db.execute(
        "SELECT count(*) FROM webhook_deliveries WHERE status != 'delivered'"
    ).fetchone()[0]
    on_disk = {
        str(p.relative_to(data / "uploads")) for p in (data / "uploads").rglob("*") if p.is_file()
    }
    stored = {f"{b}/{f}" for b, f in db.execute("SELECT batch_id, id FROM files")}
    result.stray_paths = sorted(on_disk - stored)
    db.close()

    received = Counter()
    verdicts: dict[str, set[str]] = {}
    for headers, body, status in receiver.got:
        result.deliveries_received += 1
        result.bad_signatures += not verify(secret, headers, body, tolerance=3600)
        if status >= 300:
            result.receiver_failures += 1
            continue
        event = json.loads(body)
        received[event["id"]] += 1
        if event["type"] == "file.classified":
            verdicts.setdefault(event["data"]["id"], set()).add(event["id"])
        else:
            result.extraction_events += 1
    result.duplicate_receipts = sum(n - 1 for n in received.values())
    result.verdict_events = sum(len(v) for v in verdicts.values())
    result.files_classified_more_than_once = sum(len(v) > 1 for v in verdicts.values())
    result.files_without_verdict_event = result.files - len(verdicts)


def one_run(args: argparse.Namespace, faults: bool) -> Result:
    rng = random.Random(args.seed)
    result = Result(faults)
    receiver = Receiver(args.fail_share if faults else 0.0, random.Random(args.seed + 1))
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        data = Path(tmp) / "data"
        env = {
            **os.environ,
            "DOCSORT_DATA_DIR": str(data),
            "DOCSORT_PORT": str(free_port()),
            "DOCSORT_MODEL": args.model,
            "DOCSORT_WEBHOOK_RETRY_SECONDS": "1",
            "DOCSORT_WEBHOOK_MAX_ATTEMPTS": "20",
        }
        procs = Processes(env, args.model, free_port(), Path(tmp) / "processes.log")
        env["OLLAMA_HOST"] = f"http://127.0.0.1:{procs.model_port}"
        try:
            procs.start_model()
            procs.start_api()
            base = procs.base
            ext = httpx.post(f"{base}/v1/extractions", json=EXTRACTION).json()["extraction"]
            spec = json.loads(json.dumps(CLASSIFICATION))
            spec["categories"][0]["linked_extraction_id"] = ext["id"]
            cls = httpx.post(f"{base}/v1/classifications", json=spec).json()["classification"]
            hook = httpx.post(
                f"{base}/v1/webhooks",
                json={"url": receiver.url, "events": ["file.classified", "file.processed"]},
            ).json()["webhook"]
            names = list(KINDS)
            files = [
                (f"{i:03d}-{names[i % 4]}.txt", KINDS[names[i % 4]].format(n=i).encode())
                for i in range(args.files)
            ]
            per = -(-args.files // args.batches)
            started = time.monotonic()
            if faults:
                interrupted_upload(base, cls["id"], procs.kill_api)
                result.kills += 1
                result.killed_mid_upload += 1
                procs.start_api()
            batch_ids = [
                upload(base, cls["id"], files[i : i + per]) for i in range(0, len(files), per)
            ]
            faulting = []
            if faults:
                faulting = [
                    threading.Thread(
                        target=kills, args=(procs, args.kills - 1, args.kill_gap, rng, result)
                    ),
                    threading.Thread(
                        target=outages,
                        args=(
                            procs,
                            args.outages,
                            args.outage_seconds,
                            random.Random(~args.seed),
                            result,
                        ),
                    ),  # fmt: skip
                ]
                for thread in faulting:
                    thread.start()

            def settled() -> bool:
                db = sqlite3.connect(data / "docsort.db")
                try:
                    busy = db.execute(
                        "SELECT (SELECT count(*) FROM files WHERE status IN ('queued',"
                        " 'processing')) + (SELECT count(*) FROM extraction_jobs WHERE status IN"
                        " ('queued', 'processing')) + (SELECT count(*) FROM webhook_deliveries"
                        " WHERE status IN ('pending', 'sending'))"
                    ).fetchone()[0]
                finally:
                    db.close()
                return busy == 0 and not any(t.is_alive() for t in faulting)

            wait(settled, args.timeout, 0.5)
            result.wall_seconds = round(time.monotonic() - started, 1)
            procs.stop_all()
            procs.start_api()  # a clean start: what it cleans up is checked below
            procs.stop_all()
            assert len(batch_ids) == args.batches
            check(procs, data, receiver, hook["secret"], result)
        finally:
            procs.stop_all()
            receiver.server.shutdown()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--kills", type=int, default=10, help="kill -9 of the API, one mid-upload")
    parser.add_argument("--kill-gap", type=float, default=8.0, help="mean seconds between faults")
    parser.add_argument("--outages", type=int, default=2)
    parser.add_argument("--outage-seconds", type=float, default=20.0)
    parser.add_argument("--fail-share", type=float, default=0.2)
    parser.add_argument("--model", default="qwen2.5-coder:0.5b")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    args = parser.parse_args()
    ensure_model(args.model, default_models_dir())
    results = [one_run(args, faults=True), one_run(args, faults=False)]
    for r in results:
        print(f"\n== {'with faults' if r.faults else 'without faults'} ==")
        for key, value in asdict(r).items():
            print(f"{key}: {value}")
    chaotic, calm = results
    print(f"\nwall time with faults ÷ without: {chaotic.wall_seconds / calm.wall_seconds:.2f}")
    args.out.mkdir(exist_ok=True)
    path = args.out / f"chaos-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps([asdict(r) for r in results], indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
