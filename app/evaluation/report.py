"""Turn per-file rows into a report: one dict (saved as JSON, so runs can be diffed later),
rendered as plain text for the terminal and as HTML for looking at (see html_report).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import metrics, reweigh
from .html_report import render_html

USED = "confidence"


def summarise(
    rows: list[dict[str, Any]],
    categories: list[str],
    meta: dict[str, Any],
    weighings: dict[str, Any] | None = None,
) -> dict:
    """Every number the reports show, computed once. Calibration is computed for the
    confidence docsort uses and for each source the model verdicts carry, side by side;
    `weighings` is app.evaluation.reweigh.compare's, when the verdicts recorded evidence."""
    labels = [*categories, "none"]
    expected = [r["expected"] for r in rows]
    got = [r["got"] for r in rows]
    right = [e == g for e, g in zip(expected, got, strict=True)]
    scores = metrics.class_scores(expected, got, labels)
    columns, counts = metrics.confusion(expected, got, labels)
    sources = sorted({name for r in rows for name in r["confidence_sources"]})
    calibration = {}
    for source in [USED, *sources]:
        values = [r[USED] if source == USED else r["confidence_sources"].get(source) for r in rows]
        pairs = [(v, ok) for v, ok in zip(values, right, strict=True) if v is not None]
        cal = metrics.calibration([v for v, _ in pairs], [ok for _, ok in pairs])
        calibration[source] = asdict(cal)
    seconds = [r["seconds"] for r in rows if r["seconds"] is not None]
    by_source = {}
    for source in sorted({r.get("source") or "none" for r in rows}):
        of_it = [r for r in rows if (r.get("source") or "none") == source]
        times = [r["seconds"] for r in of_it if r["seconds"] is not None]
        by_source[source] = {
            "files": len(of_it),
            "right": sum(r["got"] == r["expected"] for r in of_it),
            "median_seconds": metrics.percentile(times, 0.5),
            "p90_seconds": metrics.percentile(times, 0.9),
        }
    return {
        "meta": meta,
        "files": len(rows),
        "right": sum(right),
        "accuracy": metrics.accuracy(expected, got),
        "macro_f1": metrics.macro_f1(scores),
        "per_category": [asdict(s) for s in scores],
        "confusion": {"labels": labels, "columns": columns, "counts": counts},
        "calibration": calibration,
        "seconds": {
            "median": metrics.percentile(seconds, 0.5),
            "p90": metrics.percentile(seconds, 0.9),
            "count": len(seconds),
        },
        "by_source": by_source,
        "stream": stream(rows) if rows and "position" in rows[0] else None,
        "weighings": weighings,
        "mistakes": [r for r, ok in zip(rows, right, strict=True) if not ok],
        "rows": rows,
    }


WINDOW = 20  # files in the moving accuracy drawn along a stream


def stream(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A learning run's figures: every verdict was checked in turn, so a wrong one was a
    correction a person had to make."""
    right = [r["got"] == r["expected"] for r in rows]
    half = rows[len(rows) // 2 :]
    half_right = right[len(rows) // 2 :]
    moving = [
        sum(right[max(0, i + 1 - WINDOW) : i + 1]) / min(i + 1, WINDOW) for i in range(len(rows))
    ]
    return {
        "files": len(rows),
        "corrections": sum(not ok for ok in right),
        "corrections_per_100": 100 * sum(not ok for ok in right) / len(rows),
        "accuracy": sum(right) / len(rows),
        "second_half_files": len(half),
        "second_half_accuracy": sum(half_right) / len(half) if half else None,
        "from_examples": sum(r.get("source") == "examples" for r in rows) / len(rows),
        "second_half_from_examples": (
            sum(r.get("source") == "examples" for r in half) / len(half) if half else None
        ),
        "from_examples_right": _share(
            [ok for r, ok in zip(rows, right, strict=True) if r.get("source") == "examples"]
        ),
        "moving_accuracy": moving,
        "window": WINDOW,
    }


def _share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def table(header: list[str], body: list[list[str]], align: str = "") -> list[str]:
    """Columns padded to fit; `align` says l or r per column, by default the first left and
    the rest (numbers) right."""
    align = align or "l" + "r" * (len(header) - 1)
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        cells = [
            c.ljust(w) if a == "l" else c.rjust(w)
            for c, w, a in zip(row, widths, align, strict=True)
        ]
        return "  ".join(cells).rstrip()

    return [line(header), *map(line, body)]


def _header(report: dict) -> list[str]:
    m = report["meta"]
    limit = f", --limit {m['limit']}" if m["limit"] else ""
    plan = ""
    if m.get("examples"):
        plan = f", after {m['examples']} examples per category (seed {m['seed']})"
    if m.get("learn"):
        plan = f", streamed and checked as a person would (seed {m['seed']})"
    return [
        f"docsort eval of {m['folder']}: {report['files']} of {m['labelled']} files{limit}{plan}",
        f"model {m['model']} at {m['host']} ({m['server']})",
        f"prompts {m['prompts_hash']}, classification {m['classification_hash']},"
        f" text budget {m['text_tokens']} tokens (keywords {m['keyword_text_tokens']},"
        f" embedded {m.get('embed_tokens', m['text_tokens'])}),"
        f" answer retries {m['answer_retries']}",
        f"started {m['started']}, took {m['wall_seconds']:.0f} s",
    ]


def _scores(report: dict) -> list[str]:
    body = [
        [s["label"], num(s["precision"]), num(s["recall"]), num(s["f1"]), str(s["support"]),
         str(s["predicted"])]
        for s in report["per_category"]
    ]  # fmt: skip
    return table(["category", "precision", "recall", "F1", "expected", "got"], body)


def _confusion(report: dict) -> list[str]:
    """Columns are numbered like the rows (names would not fit); extra columns keep their
    name, such as "failed"."""
    c = report["confusion"]
    heads = [str(i + 1) if name in c["labels"] else name for i, name in enumerate(c["columns"])]
    body = [
        [f"{i + 1:>2} {label}", *(str(n) if n else "." for n in row)]
        for i, (label, row) in enumerate(zip(c["labels"], c["counts"], strict=True))
    ]
    return table(["expected \\ got", *heads], body)


def _calibration(report: dict) -> list[str]:
    cal = report["calibration"]
    summary = table(
        ["confidence", "files", "ECE", "mean if right", "mean if wrong", "AUROC",
         "best temperature", "its ECE"],
        [
            [name + (" (used)" if name == USED else ""), str(c["count"]), num(c["ece"]),
             num(c["mean_when_right"]), num(c["mean_when_wrong"]), num(c["auroc"]),
             num(c["temperature"]), num(c["ece_tempered"])]
            for name, c in cal.items()
        ],
    )  # fmt: skip
    first = next(iter(cal.values()))["bins"]
    body = [
        [f"{b['low']:.1f}–{b['high']:.1f}"] + [_bin_cell(c["bins"][i]) for c in cal.values()]
        for i, b in enumerate(first)
    ]
    reliability = table(["bin", *cal], body)
    return [*summary, "", "Reliability: files, mean confidence -> accuracy", *reliability]


def _bin_cell(b: dict) -> str:
    if not b["count"]:
        return "."
    return f"{b['count']}  {b['mean_confidence']:.2f} -> {b['accuracy']:.2f}"


def _weighings(report: dict) -> list[str]:
    if not report.get("weighings"):
        return []
    body = reweigh.table_rows(report["weighings"], num)
    return [reweigh.TITLE, *table(reweigh.COLUMNS, body)]


def _mistakes(report: dict) -> list[str]:
    body = [
        [r["file"], r["expected"], r["got"], num(r["confidence"], 2), r["error"] or ""]
        for r in report["mistakes"]
    ]
    if not body:
        return []
    return table(["file", "expected", "got", "confidence", "error"], body, "lllrl")


def _sources(report: dict) -> list[str]:
    """Who decided, with each path's accuracy and seconds per file."""
    body = [
        [source, str(b["files"]), str(b["right"]), num(b["right"] / b["files"]),
         num(b["median_seconds"], 2), num(b["p90_seconds"], 2)]
        for source, b in report.get("by_source", {}).items()
    ]  # fmt: skip
    return ["", *table(["decided by", "files", "right", "accuracy", "median s", "p90 s"], body)]


def _stream(report: dict) -> list[str]:
    st = report.get("stream")
    if not st:
        return []
    return [
        f"Learning: {st['files']} files streamed, each verdict checked (right: confirmed;"
        " wrong: corrected) before the next",
        f"corrections     {st['corrections']}  ({st['corrections_per_100']:.1f} per 100 files)",
        f"accuracy        {num(st['accuracy'])} over the stream,"
        f" {num(st['second_half_accuracy'])} over its second half"
        f" ({st['second_half_files']} files)",
        f"examples alone  {num(st['from_examples'])} of verdicts"
        f" ({num(st['second_half_from_examples'])} of the second half), right"
        f" {num(st['from_examples_right'])}",
    ]


def render_text(report: dict) -> str:
    s = report["seconds"]
    sections = [
        _header(report),
        [
            f"accuracy  {num(report['accuracy'])}  ({report['right']}/{report['files']})",
            f"macro-F1  {num(report['macro_f1'])}  (over the labels expected or predicted)",
        ],
        ["Per category", *_scores(report)],
        ["Confusion matrix (rows expected, columns got)", *_confusion(report)],
        ["Calibration (10 equal-width bins; files without a confidence left out)",
         *_calibration(report)],
        [f"Seconds per file: median {num(s['median'], 1)}, p90 {num(s['p90'], 1)}"
         f" ({s['count']} files timed)", *_sources(report)],
        _stream(report),
        _weighings(report),
        [f"Mistakes ({len(report['mistakes'])})", *_mistakes(report)],
    ]  # fmt: skip
    return "\n\n".join("\n".join(lines) for lines in sections if lines) + "\n"


def write_reports(report: dict, out_dir: Path, stem: str) -> list[Path]:
    """JSON (everything, per-file rows included), text and HTML, side by side."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.{ext}" for ext in ("json", "txt", "html")]
    paths[0].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    paths[1].write_text(render_text(report))
    paths[2].write_text(render_html(report))
    return paths
