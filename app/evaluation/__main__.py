"""python -m app.evaluation [DIR] [--limit N] [--examples K | --learn] [--seed S] [--out reports/]
                          [--keep-data DIR]

Picks the model server like `make run` (Ollama at OLLAMA_HOST, else the bundled one, stopped
at the end), classifies DIR in a throwaway data folder (or in --keep-data's, kept: its
database holds every file's text embedding and verdict, to study offline), prints the report
and writes it as JSON, text and HTML.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import tempfile
import time
from datetime import datetime
from pathlib import Path

from ..cli import model_server
from ..model import ModelClient
from ..settings import Settings
from . import reweigh
from .report import render_text, summarise, write_reports
from .runner import Plan, fingerprint, load_folder, run_folder

DEFAULT_DIR = Path("../shared/eval/dev")


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.evaluation", description=__doc__)
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--limit", type=positive, help="only the first N labelled files")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="default: reports/")
    parser.add_argument(
        "--examples", type=positive, help="give K files of each category as examples first"
    )
    parser.add_argument(
        "--learn", action="store_true", help="stream the files, checking each verdict"
    )
    parser.add_argument("--seed", type=int, default=0, help="the order examples are drawn in")
    parser.add_argument(
        "--keep-data", type=Path, help="run in this new data folder and keep it (its database)"
    )
    args = parser.parse_args(argv)
    if args.examples and args.learn:
        parser.error("--examples and --learn are two runs: choose one")
    if args.keep_data and args.keep_data.exists() and any(args.keep_data.iterdir()):
        parser.error(f"--keep-data: {args.keep_data} is not empty")
    plan = Plan(args.examples or 0, args.learn, args.seed)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    env = Settings.from_env()
    folder = load_folder(args.folder, args.limit)
    started = datetime.now().astimezone()
    clock = time.monotonic()
    with model_server(env) as server, tempfile.TemporaryDirectory(prefix="docsort-eval-") as tmp:
        settings = dataclasses.replace(env, data_dir=args.keep_data or Path(tmp))
        model = ModelClient(env.model_host, env.model, env.model_timeout, env.embed_model)
        rows = asyncio.run(run_folder(folder, settings, model, plan=plan))
    meta = {
        "folder": str(args.folder),
        "labelled": folder.total,
        "limit": args.limit,
        "model": env.model,
        "host": env.model_host,
        "server": server,
        "prompts_hash": fingerprint(*env.prompts_dir.glob("classify_*.j2")),
        "classification_hash": fingerprint(args.folder / "classification.json"),
        "text_tokens": env.text_tokens,
        "keyword_text_tokens": env.keyword_text_tokens,
        "embed_tokens": env.embed_tokens,
        "answer_retries": env.answer_retries,
        "embed_model": env.embed_model,
        "examples": plan.examples,
        "learn": plan.learn,
        "seed": plan.seed,
        "started": started.isoformat(timespec="seconds"),
        "wall_seconds": time.monotonic() - clock,
    }
    weighings = reweigh.compare(rows, folder.classification["categories"], env.weighing)
    report = summarise(rows, folder.categories, meta, weighings)
    print(render_text(report))
    kind = f"-examples{plan.examples}" if plan.examples else ("-learn" if plan.learn else "")
    stem = f"eval-{args.folder.resolve().name}{kind}-{started:%Y%m%d-%H%M%S}"
    for path in write_reports(report, args.out, stem):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
