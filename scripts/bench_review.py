"""How fast the review page renders a queue of 1,000 files, and how fast a preview renders
cold and from its cache. Prints the figures (medians).

    .venv/bin/python scripts/bench_review.py [--files 1000] [--keep DIR]

The files are seeded straight through the store (no model involved): verdicts of every kind
(unchecked, failed, queued, confirmed, overridden, from the examples) with evidence, in
batches of 30. --keep DIR leaves the data there, to serve and look at.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pymupdf
from litestar.testing import AsyncTestClient
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.api import create_app  # noqa: E402
from app.ids import new_id  # noqa: E402
from app.model import ModelClient  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.store import AsyncStore  # noqa: E402
from app.web import preview  # noqa: E402

CATEGORIES = [
    {"name": "Invoice", "description": "Vendor bills", "keywords": ["invoice", "total due"]},
    {"name": "Contract", "description": "Agreements", "keywords": ["agreement", "party"]},
    {"name": "Receipt", "description": "Point-of-sale receipts", "keywords": []},
    {"name": "Letter", "description": "Correspondence", "keywords": ["dear"]},
]
TEXT = "INVOICE 2024-{n:04}\nBill to: Example GmbH\nTotal due: {n}.00 EUR\n" * 12


def seed(store: AsyncStore, settings: Settings, count: int) -> str:
    """A classification with `count` files of every kind; returns its id."""
    rng = random.Random(12)
    sync = store.sync
    cls_id = sync.create_classification("Bench inbox", "", CATEGORIES)
    category_ids = [c["id"] for c in sync.get_classification(cls_id)["categories"]]
    names = [c["name"] for c in CATEGORIES]
    for start in range(0, count, 30):
        batch_id = new_id("cbtc")
        folder = settings.uploads_dir / batch_id
        folder.mkdir(parents=True)
        files = []
        for n in range(start, min(start + 30, count)):
            file_id = new_id("file")
            data = TEXT.format(n=n).encode()
            (folder / file_id).write_bytes(data)
            files.append({"id": file_id, "file_name": f"scan-{n:04}.txt", "size_bytes": len(data)})
        sync.create_batch(batch_id, cls_id, files)
    checked: list[str] = []
    for _ in range(count - count // 20):  # the last twentieth stays queued
        claimed = sync.claim_file("bench")
        roll = rng.random()
        if roll < 0.05:
            sync.record_failure(claimed["id"], claimed["run_token"], "the file is damaged")
            continue
        pick = rng.randrange(len(category_ids) + 1)
        category = category_ids[pick] if pick < len(category_ids) else None
        evidence = {
            "decided_by": "model",
            "model_answer": names[pick] if pick < len(names) else "none",
            "keywords_found": {names[0]: ["invoice", "total due"]} if pick == 0 else {},
            "examples": {
                "count": 12,
                "probabilities": {"Invoice": 0.7},
                "nearest": [
                    {"file_id": c, "file_name": "known.txt", "category": "Invoice",
                     "similarity": 0.9}
                    for c in checked[-3:]
                ],
            },
        }  # fmt: skip
        sync.record_verdict(
            claimed["id"], claimed["run_token"], category, rng.random(),
            "The model's reasoning: it reads like an invoice, with a total due.", "bench",
            evidence=evidence,
        )  # fmt: skip
        if roll > 0.9:
            sync.confirm_file(claimed["id"])
            checked.append(claimed["id"])
        elif roll > 0.85:
            sync.override_file(claimed["id"], category_ids[0])
    return cls_id


async def timed(run: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    """The median of `repeat` runs, in milliseconds, and the last run's result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = await run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def scanned_png(path: Path) -> None:
    """An A4 page at 300 dpi as a scanner makes it: grey paper, lines of text, noise."""
    image = Image.new("L", (2480, 3508), 236)
    draw = ImageDraw.Draw(image)
    for row in range(60):
        draw.text((180, 200 + row * 52), f"Line {row}: Total due 1{row}.00 EUR  " * 3, fill=30)
    noise = Image.effect_noise(image.size, 18)
    image = Image.blend(image, noise, 0.15).filter(ImageFilter.GaussianBlur(0.6))
    out = io.BytesIO()
    image.save(out, "PNG")
    path.write_bytes(out.getvalue())


def one_page_pdf(path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_textbox(pymupdf.Rect(40, 40, 555, 800), TEXT.format(n=7), fontsize=9)
    doc.save(path)
    doc.close()


async def bench(count: int, data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, prompts_dir=ROOT / "prompts")
    store = AsyncStore(settings.db_path)
    start = time.perf_counter()
    cls_id = seed(store, settings, count)
    print(f"seeded {count} files in {time.perf_counter() - start:.1f} s")
    app = create_app(settings, store, ModelClient("http://127.0.0.1:9", "none"), run_worker=False)
    url = f"/classifications/{cls_id}/review"
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1") as client:
        await client.get(url)  # templates compiled, the text reader imported
        middle = (await client.get(f"/v1/classifications/{cls_id}/batches")).json()
        batch = middle["batches"][len(middle["batches"]) // 2]["id"]
        cases = {
            "first page": {},
            "page 10": {"page": "10"},
            "unchecked, below 0.5": {"status": "unchecked", "below": "0.5"},
            "one batch": {"batch": batch},
        }
        for name, params in cases.items():

            async def get(params: dict[str, str] = params) -> Any:
                response = await client.get(url, params=params)
                assert response.status_code == 200, response.text
                return response

            ms, response = await timed(get, 20)
            rows = response.text.count('class="queue-row')
            print(f"review page, {count} files, {name}: {ms:.1f} ms ({rows} rows shown)")
    cache = data_dir / "previews"
    for label, make, kind in (
        ("1-page PDF", one_page_pdf, "pdf"),
        ("scanned-like PNG 2480x3508", scanned_png, "png"),
    ):
        source = data_dir / f"bench-{kind}"
        make(source)

        async def cold(source: Path = source, kind: str = kind) -> bytes:
            shutil.rmtree(cache, ignore_errors=True)
            return await asyncio.to_thread(preview.preview_png, cache, "bench", source, kind)

        async def warm(source: Path = source, kind: str = kind) -> bytes:
            return await asyncio.to_thread(preview.preview_png, cache, "bench", source, kind)

        cold_ms, png = await timed(cold, 5)
        warm_ms, _ = await timed(warm, 20)
        print(
            f"preview of a {label}: cold {cold_ms:.0f} ms, cached {warm_ms:.2f} ms"
            f" ({len(png) // 1024} KiB PNG)"
        )
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--keep", type=Path, help="seed into this folder and leave it there")
    args = parser.parse_args()
    if args.keep:
        asyncio.run(bench(args.files, args.keep))
        return
    with tempfile.TemporaryDirectory(prefix="docsort-bench-") as folder:
        asyncio.run(bench(args.files, Path(folder)))


if __name__ == "__main__":
    main()
