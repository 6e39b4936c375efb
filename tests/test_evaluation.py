import io
import json
import sqlite3
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from pathlib import Path

import pytest

from app.evaluation import __main__ as command
from app.evaluation import metrics
from app.evaluation.html_report import render_html
from app.evaluation.report import render_text, summarise, write_reports
from app.evaluation.runner import Plan, load_folder, run_folder, to_row
from app.settings import Settings

from .conftest import INBOX, ROOT, FakeModel
from .test_learning import LearningModel

LABELS = ["A", "B", "C", "none"]
EXPECTED = ["A", "A", "B", "none", "B"]
GOT = ["A", "B", "B", "none", "failed"]


def test_accuracy_and_per_class_scores():
    assert metrics.accuracy(EXPECTED, GOT) == pytest.approx(3 / 5)
    a, b, c, none = metrics.class_scores(EXPECTED, GOT, LABELS)
    assert (a.precision, a.recall, a.f1, a.support, a.predicted) == (1.0, 0.5, 2 / 3, 2, 1)
    assert (b.precision, b.recall, b.f1, b.support, b.predicted) == (0.5, 0.5, 0.5, 2, 2)
    assert (c.precision, c.recall, c.f1, c.support, c.predicted) == (None, None, None, 0, 0)
    assert (none.precision, none.recall, none.f1) == (1.0, 1.0, 1.0)


def test_macro_f1_skips_labels_never_seen_but_counts_wrong_predictions():
    scores = metrics.class_scores(EXPECTED, GOT, LABELS)
    assert metrics.macro_f1(scores) == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)
    a, b = metrics.class_scores(["A"], ["B"], ["A", "B"])
    assert (a.precision, a.recall, a.f1) == (None, 0.0, 0.0)
    assert (b.precision, b.recall, b.f1) == (0.0, None, 0.0)
    assert metrics.macro_f1([a, b]) == 0.0


def test_confusion_matrix_adds_a_failed_column():
    columns, counts = metrics.confusion(EXPECTED, GOT, LABELS)
    assert columns == ["A", "B", "C", "none", "failed"]
    assert counts == [
        [1, 1, 0, 0, 0],
        [0, 1, 0, 0, 1],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 1, 0],
    ]


def test_reliability_bins_and_ece():
    confidences = [0.05, 0.15, 0.1, 0.95, 1.0, 0.9]
    right = [False, True, False, True, True, False]
    bins = metrics.reliability(confidences, right)
    assert [b.count for b in bins] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 3]
    assert (bins[0].low, bins[0].high) == (0.0, 0.1)
    assert bins[1].mean_confidence == pytest.approx(0.125)
    assert bins[1].accuracy == 0.5
    assert bins[2].mean_confidence is None and bins[2].accuracy is None
    assert bins[9].mean_confidence == pytest.approx(0.95)
    assert bins[9].accuracy == pytest.approx(2 / 3)
    expected_ece = 1 / 6 * 0.05 + 2 / 6 * 0.375 + 3 / 6 * (0.95 - 2 / 3)
    assert metrics.ece(bins) == pytest.approx(expected_ece)
    assert metrics.ece(metrics.reliability([], [])) is None


def test_right_versus_wrong_separation():
    cal = metrics.calibration([0.9, 0.8, 0.7, 0.6], [True, False, True, False])
    assert cal.mean_when_right == pytest.approx(0.8)
    assert cal.mean_when_wrong == pytest.approx(0.7)
    assert cal.auroc == 0.75
    assert metrics.auroc([0.5, 0.5], [True, False]) == 0.5
    assert metrics.auroc([0.9, 0.4], [True, True]) is None


def test_percentile_interpolates():
    assert metrics.percentile([4, 1, 3, 2], 0.5) == 2.5
    assert metrics.percentile([1, 2, 3, 4], 0.9) == pytest.approx(3.7)
    assert metrics.percentile([5], 0.9) == 5
    assert metrics.percentile([], 0.5) is None


def row(file, expected, got, confidence, sources=None, seconds=1.0, error=None):
    return {
        "file": file,
        "expected": expected,
        "got": got,
        "status": "failed" if got == "failed" else "processed",
        "error": error,
        "confidence": confidence,
        "confidence_sources": sources or {},
        "reasoning": "Because.",
        "seconds": seconds,
    }


META = {
    "folder": "eval/dev",
    "labelled": 10,
    "limit": 4,
    "model": "fake-model",
    "host": "http://127.0.0.1:9",
    "server": "fake",
    "prompts_hash": "0123456789ab",
    "classification_hash": "ba9876543210",
    "text_tokens": 500,
    "keyword_text_tokens": 1000,
    "answer_retries": 2,
    "started": "2025-01-01T10:00:00+00:00",
    "wall_seconds": 12.0,
}


@pytest.fixture
def report():
    rows = [
        row("a.txt", "A", "A", 0.9, {"logprob": 0.8, "self_reported": 0.9}, seconds=2.0),
        row("b.txt", "B", "A", 0.7, {"logprob": 0.3, "self_reported": 0.7}, seconds=4.0),
        row("c.txt", "none", "none", 0.95, seconds=1.0),
        row("d.txt", "B", "failed", None, seconds=None, error="the model <kept> failing"),
    ]
    return summarise(rows, ["A", "B"], META)


def test_summary_compares_every_confidence_source(report):
    assert report["accuracy"] == 0.5
    cal = report["calibration"]
    assert list(cal) == ["confidence", "logprob", "self_reported"]
    assert cal["confidence"]["count"] == 3  # the failed file has no confidence
    assert cal["logprob"]["count"] == 2
    assert cal["logprob"]["auroc"] == 1.0
    assert report["seconds"] == {"median": 2.0, "p90": pytest.approx(3.6), "count": 3}
    assert [m["file"] for m in report["mistakes"]] == ["b.txt", "d.txt"]


def test_text_report_has_every_section(report):
    text = render_text(report)
    for part in [
        "fake-model",
        "prompts 0123456789ab",
        "text budget 500 tokens (keywords 1000, embedded 500)",
        "accuracy  0.500  (2/4)",
        "macro-F1",
        "Per category",
        "Confusion matrix",
        "failed",
        "Calibration",
        "Reliability",
        "confidence (used)",
        "logprob",
        "self_reported",
        "Seconds per file: median 2.0, p90 3.6",
        "Mistakes (2)",
        "b.txt",
    ]:
        assert part in text, part


def test_no_mistakes_means_no_empty_table():
    report = summarise([row("a.txt", "A", "A", 0.9)], ["A"], META)
    assert render_text(report).endswith("Mistakes (0)\n")
    assert render_html(report).count("<table") == 3


def test_html_report_is_well_formed_and_self_contained(report):
    html = render_html(report)
    root = ET.fromstring(html.split("\n", 1)[1])  # past the doctype
    assert len(root.findall(".//svg")) == 3  # one reliability diagram per confidence
    matrix = root.find(".//table[@class='matrix']")
    assert matrix is not None
    shaded = [td for td in matrix.iter("td") if "background" in td.get("style", "")]
    assert len(shaded) == 4  # one cell per (expected, got) pair that occurred
    assert "&lt;kept&gt;" in html
    assert "<script" not in html and "src=" not in html and "href=" not in html


def test_reports_are_written_side_by_side(report, tmp_path):
    paths = write_reports(report, tmp_path / "reports", "eval-x")
    assert [p.name for p in paths] == ["eval-x.json", "eval-x.txt", "eval-x.html"]
    assert json.loads(paths[0].read_text())["accuracy"] == 0.5


def test_a_failed_file_is_wrong_and_sources_are_read_from_the_model_verdict():
    view = {
        "file_name": "x.pdf",
        "status": "processed",
        "error": None,
        "classified_category_name": None,
        "confidence": 0.8,
        "classification_reasoning": "Nothing fits.",
        "model_verdict": {"confidence_sources": {"logprob": 0.6}},
        "started_at": "2025-01-01T10:00:00.000Z",
        "finished_at": "2025-01-01T10:00:02.500Z",
    }
    result = to_row(view, "none")
    assert (result["got"], result["confidence_sources"], result["seconds"]) == (
        "none",
        {"logprob": 0.6},
        2.5,
    )
    failed = to_row({**view, "status": "failed", "model_verdict": None, "confidence": None}, "A")
    assert (failed["got"], failed["confidence_sources"]) == ("failed", {})


def labelled_folder(path: Path) -> Path:
    (path / "docs").mkdir(parents=True)
    docs = {
        "a.txt": ("An Invoice for March.", "Invoice"),
        "b.txt": ("This Contract settles the Invoice.", "Contract"),
        "c.txt": ("Notes from the garden.", ""),
    }
    lines = ["file,expected_category,source"]
    for name, (text, expected) in docs.items():
        (path / "docs" / name).write_text(text)
        lines.append(f"{name},{expected},made up")
    (path / "labels.csv").write_text("\n".join(lines) + "\n")
    (path / "classification.json").write_text(json.dumps(INBOX))
    return path


async def test_runner_classifies_a_folder_through_the_api_and_worker(tmp_path):
    folder = load_folder(labelled_folder(tmp_path / "eval"))
    settings = Settings(data_dir=tmp_path / "data", prompts_dir=ROOT / "prompts", max_files=2)
    model = FakeModel()
    progress = io.StringIO()
    rows = await run_folder(folder, settings, model, progress)
    assert [(r["file"], r["expected"], r["got"]) for r in rows] == [
        ("a.txt", "Invoice", "Invoice"),
        ("b.txt", "Contract", "Invoice"),
        ("c.txt", "none", "none"),
    ]
    assert rows[1]["evidence"]["model_answer"] == "Invoice"
    assert rows[1]["evidence"]["keywords_found"] == {"Invoice": ["invoice"]}
    assert all(0 < r["confidence"] <= 1 and r["seconds"] >= 0 for r in rows)
    assert len(model.calls) == 3
    assert progress.getvalue().splitlines()[-1].startswith("3/3 files")
    assert summarise(rows, folder.categories, META)["accuracy"] == pytest.approx(2 / 3)


async def test_the_model_reads_its_budget_and_the_keywords_more(tmp_path):
    path = labelled_folder(tmp_path / "eval")
    filler = "Some words of the middle. " * 40
    (path / "docs" / "c.txt").write_text(f"Notes from the garden.\n{filler}Whereas.\n{filler}")
    settings = Settings(
        data_dir=tmp_path / "data",
        prompts_dir=ROOT / "prompts",
        text_tokens=40,
        keyword_text_tokens=1000,
    )
    model = FakeModel()
    rows = await run_folder(load_folder(path), settings, model, None)
    assert "Whereas" not in model.calls[2]["user"]
    assert rows[2]["evidence"]["keywords_found"] == {"Contract": ["whereas"]}


async def test_runner_says_what_the_api_refused(tmp_path):
    folder = load_folder(labelled_folder(tmp_path / "eval"))
    settings = Settings(data_dir=tmp_path / "data", prompts_dir=ROOT / "prompts", max_file_bytes=8)
    with pytest.raises(SystemExit, match="refused"):
        await run_folder(folder, settings, FakeModel(), None)


def test_load_folder_limits_and_checks_labels(tmp_path):
    path = labelled_folder(tmp_path / "eval")
    folder = load_folder(path, limit=2)
    assert (list(folder.expected), folder.total) == (["a.txt", "b.txt"], 3)
    (path / "labels.csv").write_text("file,expected_category\na.txt,Payslip\n")
    with pytest.raises(SystemExit, match="Payslip"):
        load_folder(path)
    (path / "labels.csv").write_text("file,expected_category\nmissing.txt,\n")
    with pytest.raises(SystemExit, match="missing.txt"):
        load_folder(path)


def test_command_prints_and_writes_the_reports(tmp_path, monkeypatch, capsys):
    @contextmanager
    def fake_server(settings):
        yield "fake server"

    monkeypatch.setattr(command, "model_server", fake_server)
    monkeypatch.setattr(command, "ModelClient", lambda *args: FakeModel())
    monkeypatch.setenv("DOCSORT_PROMPTS_DIR", str(ROOT / "prompts"))
    path = labelled_folder(tmp_path / "eval")
    assert command.main([str(path), "--limit", "2", "--out", str(tmp_path / "reports")]) == 0
    out = capsys.readouterr().out
    assert "2 of 3 files, --limit 2" in out and "(fake server)" in out
    written = sorted(p.suffix for p in (tmp_path / "reports").iterdir())
    assert written == [".html", ".json", ".txt"]
    kept = tmp_path / "kept"
    assert (
        command.main([str(path), "--out", str(tmp_path / "reports"), "--keep-data", str(kept)]) == 0
    )
    with sqlite3.connect(kept / "docsort.db") as db:
        assert db.execute("SELECT count(*) FROM files").fetchone() == (3,)
    with pytest.raises(SystemExit):  # a kept folder is never run over again
        command.main([str(path), "--keep-data", str(kept)])


def german_folder(path: Path, per_category: int = 8) -> Path:
    """Documents the fake model cannot place (it looks for the English names), each kind with
    words of its own, so only what the examples teach gets them right."""
    (path / "docs").mkdir(parents=True)
    words = {
        "Invoice": "Rechnung Nummer Betrag faellig Zahlung Summe",
        "Contract": "Vertrag Parteien Klausel Laufzeit Haftung",
        "Receipt": "Kasse Bon bezahlt danke Einkauf Filiale",
    }
    lines = ["file,expected_category"]
    for category, text in words.items():
        for i in range(per_category):
            name = f"{category.lower()}-{i}.txt"
            (path / "docs" / name).write_text(f"{text} {i} Seite {i * 7}")
            lines.append(f"{name},{category}")
    (path / "labels.csv").write_text("\n".join(lines) + "\n")
    (path / "classification.json").write_text(json.dumps(INBOX))
    return path


async def test_learning_run_checks_each_verdict_and_learns(tmp_path):
    folder = load_folder(german_folder(tmp_path / "eval"))
    settings = Settings(data_dir=tmp_path / "data", prompts_dir=ROOT / "prompts")
    rows = await run_folder(folder, settings, LearningModel(), None, Plan(learn=True, seed=3))
    assert [r["position"] for r in rows] == list(range(24))
    assert sorted(r["file"] for r in rows) == sorted(folder.expected)
    assert rows != sorted(rows, key=lambda r: r["file"])  # shuffled by the seed
    first, second = rows[:12], rows[12:]
    assert sum(r["corrected"] for r in second) < sum(r["corrected"] for r in first)
    assert any(r["source"] == "examples" for r in second)
    report = summarise(rows, folder.categories, META)
    stream = report["stream"]
    assert stream["corrections"] == sum(r["corrected"] for r in rows)
    assert stream["second_half_accuracy"] > 0.8 and len(stream["moving_accuracy"]) == 24
    assert "per 100 files" in render_text(report)
    html = render_html(report)
    ET.fromstring(html.split("\n", 1)[1])
    assert "accuracy along the stream" in html


async def test_examples_run_gives_k_files_a_category_first(tmp_path):
    folder = load_folder(german_folder(tmp_path / "eval"))
    settings = Settings(data_dir=tmp_path / "data", prompts_dir=ROOT / "prompts")
    model = LearningModel()
    rows = await run_folder(folder, settings, model, None, Plan(examples=3))
    assert len(rows) == 24 - 3 * 3
    assert "position" not in rows[0]
    assert sum(r["got"] == r["expected"] for r in rows) >= 0.8 * len(rows)
    assert summarise(rows, folder.categories, META)["by_source"]["examples"]["files"] > 0
