"""Quick accuracy check: run a labelled folder through the API and worker, print accuracy and
seconds per file. Needs a model server at OLLAMA_HOST (e.g. started by `make run`).

    .venv/bin/python scripts/eval_quick.py ../shared/eval/dev [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from litestar.testing import AsyncTestClient

from app.api import create_app
from app.cli import normalise_host
from app.model import ModelClient
from app.settings import Settings
from app.store import AsyncStore


def seconds(file: dict) -> float:
    start = datetime.fromisoformat(file["started_at"])
    return (datetime.fromisoformat(file["finished_at"]) - start).total_seconds()


async def evaluate(folder: Path, limit: int | None) -> None:
    labels = list(csv.DictReader((folder / "labels.csv").open()))[:limit]
    expected = {row["file"]: row["expected_category"] or "none" for row in labels}
    env = Settings.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), prompts_dir=env.prompts_dir,
                            text_chars=env.text_chars)
        model = ModelClient(normalise_host(env.ollama_host), env.model, env.model_timeout)
        app = create_app(settings, AsyncStore(settings.db_path), model, run_worker=False)
        async with AsyncTestClient(app=app, timeout=60) as client:
            body = json.loads((folder / "classification.json").read_text())
            cls = (await client.post("/v1/classifications", json=body)).json()["classification"]
            batches = []
            names = list(expected)
            for i in range(0, len(names), 30):
                parts = [("files", (n, (folder / "docs" / n).read_bytes())) for n in names[i:i + 30]]
                r = await client.post(f"/v1/classifications/{cls['id']}/batches", files=parts)
                batches.append(r.json()["batch"]["id"])
            worker = app.state.worker
            started = time.monotonic()
            for done in range(1, len(names) + 1):
                await worker.process_one()
                print(f"\r{done}/{len(names)} files, {time.monotonic() - started:.0f} s",
                      end="", file=sys.stderr)
            print(file=sys.stderr)
            files = []
            for batch_id in batches:
                r = await client.get(f"/v1/classifications/{cls['id']}/batches/{batch_id}")
                files += r.json()["files"]
    right = 0
    for f in files:
        got = f["classified_category_name"] or ("failed" if f["status"] == "failed" else "none")
        ok = got == expected[f["file_name"]]
        right += ok
        if not ok:
            print(f"  {f['file_name']}: expected {expected[f['file_name']]}, got {got}"
                  f" ({f['confidence']}) {f['error'] or ''}")
    times = [seconds(f) for f in files if f["finished_at"] and f["started_at"]]
    print(f"model {env.model}: accuracy {right}/{len(files)} = {right / len(files):.3f};"
          f" median {statistics.median(times):.2f} s/file, mean {statistics.mean(times):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()
    asyncio.run(evaluate(args.folder, args.limit))


if __name__ == "__main__":
    main()
