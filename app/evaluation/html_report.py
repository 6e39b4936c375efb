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
        f" {m['text_tokens']} tokens (keywords {m['keyword_text_tokens']}) · started"
        f" {escape(m['started'])}, took {m['wall_seconds']:.0f} s</p>",
        f"<p>Accuracy <b>{_num(report['accuracy'])}</b> ({report['right']}/{report['files']})"
        f" · macro-F1 <b>{_num(report['macro_f1'])}</b> · seconds per file: median"
        f" {_num(s['median'], 1)}, p90 {_num(s['p90'], 1)}</p>",
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
