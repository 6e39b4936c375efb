"""The report as one self-contained HTML page, to look at rather than read: the confusion
matrix as a shaded table and a reliability diagram per confidence as inline SVG. No
JavaScript and no external assets, so it opens from disk anywhere, and the markup stays
well-formed XML so a test can parse it.
"""

from __future__ import annotations

from html import escape
from typing import Any

from . import reweigh

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #1f2328; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { padding: 3px 8px; border: 1px solid #d0d7de; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.matrix td { min-width: 2.2em; text-align: center; }
.matrix th.col { writing-mode: vertical-rl; transform: rotate(180deg); vertical-align: bottom; }
.diagrams { display: flex; flex-wrap: wrap; gap: 2em; }
.meta { color: #57606a; }
"""

# Plot geometry of one reliability diagram, in SVG user units.
LEFT, TOP, SIZE = 40, 24, 200


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _row(cells: list[Any], head: bool = False) -> str:
    tag = "th" if head else "td"
    return "<tr>" + "".join(f"<{tag}>{escape(str(c))}</{tag}>" for c in cells) + "</tr>"


def _table(header: list[str], body: list[list[Any]], cls: str = "") -> str:
    rows = [_row(header, head=True), *(_row(r) for r in body)]
    return f'<table class="{cls}">' + "".join(rows) + "</table>"


def _matrix(confusion: dict) -> str:
    """Each cell shaded by its share of the row (the expected label): green on the diagonal,
    red elsewhere, so a dark red cell is a confusion worth fixing."""
    labels, columns = confusion["labels"], confusion["columns"]
    head = "<tr><th>expected \\ got</th>" + "".join(
        f'<th class="col">{escape(c)}</th>' for c in columns
    )
    rows = [head + "</tr>"]
    for label, counts in zip(labels, confusion["counts"], strict=True):
        total = sum(counts) or 1
        cells = []
        for column, n in zip(columns, counts, strict=True):
            colour = "46,160,67" if column == label else "218,54,51"
            alpha = 0.12 + 0.88 * n / total if n else 0
            style = f' style="background: rgba({colour},{alpha:.2f})"' if n else ""
            cells.append(f"<td{style}>{n or ''}</td>")
        rows.append(f"<tr><th>{escape(label)}</th>{''.join(cells)}</tr>")
    return '<table class="matrix">' + "".join(rows) + "</table>"


def _x(value: float) -> float:
    return LEFT + value * SIZE


def _y(value: float) -> float:
    return TOP + (1 - value) * SIZE


def _diagram(name: str, cal: dict) -> str:
    """Bars are each bin's accuracy; the red part is the gap to its mean confidence, and the
    dashed diagonal is perfect calibration. The number over a bar is its file count."""
    parts = [
        f'<svg width="{LEFT + SIZE + 16}" height="{TOP + SIZE + 40}" role="img">',
        f"<title>reliability of {escape(name)}</title>",
        f'<text x="{LEFT}" y="14" font-weight="bold">{escape(name)}'
        f" (ECE {_num(cal['ece'])})</text>",
        f'<rect x="{LEFT}" y="{TOP}" width="{SIZE}" height="{SIZE}" fill="none" stroke="#8c959f"/>',
    ]
    for b in cal["bins"]:
        if not b["count"]:
            continue
        x, width = _x(b["low"]) + 1, SIZE / len(cal["bins"]) - 2
        acc, conf = b["accuracy"], b["mean_confidence"]
        parts.append(
            f'<rect x="{x:.1f}" y="{_y(acc):.1f}" width="{width:.1f}"'
            f' height="{_y(0) - _y(acc):.1f}" fill="#0969da" fill-opacity="0.75"/>'
        )
        low, high = sorted((acc, conf))
        parts.append(
            f'<rect x="{x:.1f}" y="{_y(high):.1f}" width="{width:.1f}"'
            f' height="{_y(low) - _y(high):.1f}" fill="#cf222e" fill-opacity="0.35"/>'
        )
        parts.append(
            f'<text x="{x + width / 2:.1f}" y="{_y(max(acc, conf)) - 3:.1f}" font-size="10"'
            f' text-anchor="middle">{b["count"]}</text>'
        )
    parts.append(
        f'<line x1="{_x(0)}" y1="{_y(0)}" x2="{_x(1)}" y2="{_y(1)}" stroke="#57606a"'
        ' stroke-dasharray="4 3"/>'
    )
    for tick in (0, 0.5, 1):
        parts.append(
            f'<text x="{_x(tick)}" y="{_y(0) + 14}" font-size="10" text-anchor="middle">'
            f'{tick}</text><text x="{LEFT - 4}" y="{_y(tick) + 3}" font-size="10"'
            f' text-anchor="end">{tick}</text>'
        )
    parts.append(
        f'<text x="{_x(0.5)}" y="{_y(0) + 30}" font-size="11" text-anchor="middle">'
        "confidence</text>"
        f'<text x="12" y="{_y(0.5)}" font-size="11" text-anchor="middle"'
        f' transform="rotate(-90 12 {_y(0.5)})">accuracy</text></svg>'
    )
    return "".join(parts)


# Geometry of the accuracy-along-the-stream plot.
STREAM_WIDTH, STREAM_HEIGHT = 560, 160


def _stream(report: dict) -> list[str]:
    """A learning run: the moving accuracy along the stream (blue), the mean so far (grey),
    and a tick under each file the examples decided alone."""
    st = report.get("stream")
    if not st:
        return []
    moving, n = st["moving_accuracy"], len(st["moving_accuracy"])
    right = [r["got"] == r["expected"] for r in report["rows"]]
    so_far = [sum(right[: i + 1]) / (i + 1) for i in range(n)]

    def x(i: int) -> float:
        return LEFT + i * STREAM_WIDTH / max(n - 1, 1)

    def y(v: float) -> float:
        return TOP + (1 - v) * STREAM_HEIGHT

    def line(values: list[float], colour: str) -> str:
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        return f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/>'

    ticks = "".join(
        f'<line x1="{x(i):.1f}" y1="{y(0) + 4}" x2="{x(i):.1f}" y2="{y(0) + 10}" stroke="#1a7f37"/>'
        for i, r in enumerate(report["rows"])
        if r.get("source") == "examples"
    )
    svg = (
        f'<svg width="{LEFT + STREAM_WIDTH + 16}" height="{TOP + STREAM_HEIGHT + 40}" role="img">'
        "<title>accuracy along the stream</title>"
        f'<rect x="{LEFT}" y="{TOP}" width="{STREAM_WIDTH}" height="{STREAM_HEIGHT}"'
        ' fill="none" stroke="#8c959f"/>'
        + line(so_far, "#8c959f") + line(moving, "#0969da") + ticks
        + "".join(
            f'<text x="{LEFT - 4}" y="{y(t) + 3}" font-size="10" text-anchor="end">{t}</text>'
            for t in (0, 0.5, 1)
        )
        + f'<text x="{LEFT + STREAM_WIDTH / 2}" y="{y(0) + 26}" font-size="11"'
        f' text-anchor="middle">files in stream order (1 to {n})</text></svg>'
    )  # fmt: skip
    return [
        "<h2>Learning along the stream</h2>",
        f"<p>{st['corrections']} corrections ({st['corrections_per_100']:.1f} per 100 files) ·"
        f" accuracy {_num(st['accuracy'])}, second half {_num(st['second_half_accuracy'])} ·"
        f" decided by the examples alone: {_num(st['from_examples'])}"
        f" (second half {_num(st['second_half_from_examples'])}),"
        f" right {_num(st['from_examples_right'])}</p>",
        svg,
        f'<p class="meta">Blue: accuracy over the last {st["window"]} files; grey: over all'
        " files so far; green ticks: verdicts the examples made without the model.</p>",
    ]


def _weighings(report: dict) -> list[str]:
    if not report.get("weighings"):
        return []
    body = reweigh.table_rows(report["weighings"], _num)
    return ["<h2>Other weighings</h2>", f'<p class="meta">{escape(reweigh.TITLE)}</p>',
            _table(reweigh.COLUMNS, body)]  # fmt: skip


def render_html(report: dict) -> str:
    m, s = report["meta"], report["seconds"]
    cal = report["calibration"]
    scores = [
        [c["label"], _num(c["precision"]), _num(c["recall"]), _num(c["f1"]), c["support"],
         c["predicted"]]
        for c in report["per_category"]
    ]  # fmt: skip
    calibration = [
        [name, c["count"], _num(c["ece"]), _num(c["mean_when_right"]),
         _num(c["mean_when_wrong"]), _num(c["auroc"])]
        for name, c in cal.items()
    ]  # fmt: skip
    mistakes = [
        [r["file"], r["expected"], r["got"], _num(r["confidence"], 2), r["error"] or ""]
        for r in report["mistakes"]
    ]
    body = [
        f"<h1>docsort eval: {escape(str(m['folder']))}</h1>",
        f'<p class="meta">{report["files"]} of {m["labelled"]} labelled files · model'
        f" {escape(m['model'])} at {escape(m['host'])} ({escape(m['server'])}) · prompts"
        f" {m['prompts_hash']} · classification {m['classification_hash']} · text budget"
        f" {m['text_tokens']} tokens (keywords {m['keyword_text_tokens']}, embedded"
        f" {m.get('embed_tokens', m['text_tokens'])}) · started"
        f" {escape(m['started'])}, took {m['wall_seconds']:.0f} s</p>",
        f"<p>Accuracy <b>{_num(report['accuracy'])}</b> ({report['right']}/{report['files']})"
        f" · macro-F1 <b>{_num(report['macro_f1'])}</b> · seconds per file: median"
        f" {_num(s['median'], 1)}, p90 {_num(s['p90'], 1)}</p>",
        *_stream(report),
        "<h2>Confusion matrix</h2>",
        _matrix(report["confusion"]),
        "<h2>Per category</h2>",
        _table(["category", "precision", "recall", "F1", "expected", "got"], scores),
        "<h2>Calibration</h2>",
        _table(["confidence", "files", "ECE", "mean if right", "mean if wrong", "AUROC"],
               calibration),
        '<div class="diagrams">',
        *(_diagram(name, c) for name, c in cal.items()),
        "</div>",
        '<p class="meta">Blue: accuracy per bin; red: its gap to the mean confidence; the number:'
        " files in the bin; dashed: perfect calibration.</p>",
        *_weighings(report),
        f"<h2>Mistakes ({len(mistakes)})</h2>",
        _table(["file", "expected", "got", "confidence", "error"], mistakes) if mistakes else "",
    ]  # fmt: skip
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"/>'
        f"<title>docsort eval: {escape(str(m['folder']))}</title><style>{STYLE}</style>"
        "</head><body>" + "\n".join(body) + "</body></html>\n"
    )
