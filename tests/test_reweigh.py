import pytest

from app.evaluation import reweigh
from app.evaluation.html_report import render_html
from app.evaluation.report import render_text, summarise
from app.verdict.evidence import Weighing

from .test_evaluation import META, row

CATEGORIES = [
    {"name": "A", "keywords": ["alpha", "apex"]},
    {"name": "B", "keywords": ["beta", "bravo"]},
]


def weighed(file, expected, model_answer, probabilities, found):
    evidence = {
        "model_answer": model_answer,
        "model_probabilities": probabilities,
        "keywords_found": found,
    }
    return {**row(file, expected, "?", 0.5), "evidence": evidence}


@pytest.fixture
def rows():
    return [
        # The model is sure of B; both of A's keywords say otherwise.
        weighed("a.txt", "A", "B", {"B": 0.9, "A": 0.1}, {"A": ["alpha", "apex"]}),
        # No keyword at all: none, which the model says too.
        weighed("n.txt", "none", "none", {"none": 0.8, "A": 0.2}, {}),
        row("f.txt", "B", "failed", None, seconds=None, error="no valid verdict"),
    ]


def test_the_model_alone_and_the_weighing_are_scored_from_the_recorded_evidence(rows):
    compared = reweigh.compare(rows, CATEGORIES, Weighing())
    assert compared["model_alone"]["right"] == 1
    assert compared["model_alone"]["model_weight"] is None
    assert compared["current"]["right"] == 2
    assert compared["current"]["accuracy"] == pytest.approx(2 / 3)
    assert compared["current"]["none_precision"] == 1.0
    assert compared["keywords_alone"]["model_weight"] == 0.0
    assert compared["best"][0]["right"] == 2  # the failed file stays wrong under any weighing
    assert len(compared["best"]) == reweigh.SHOWN


def test_a_heavy_model_weight_keeps_the_models_answer(rows):
    trusting = reweigh.score(rows, CATEGORIES, Weighing(model_weight=20.0))
    assert trusting["right"] == 1


def test_the_grid_keeps_only_valid_rates():
    assert all(w.stray_rate < w.hit_rate for w in reweigh.grid())
    assert Weighing() in reweigh.grid()


def test_no_recorded_evidence_means_no_comparison():
    assert reweigh.compare([row("a.txt", "A", "A", 0.9)], CATEGORIES, Weighing()) is None


def test_the_text_report_shows_the_weighings(rows):
    compared = reweigh.compare(rows, CATEGORIES, Weighing())
    text = render_text(summarise(rows, ["A", "B"], META, compared))
    assert "Other weighings" in text
    assert "model alone" in text and "keywords alone" in text
    assert "Other weighings" not in render_text(summarise(rows, ["A", "B"], META))


def test_the_html_report_draws_the_weighings(rows):
    compared = reweigh.compare(rows, CATEGORIES, Weighing())
    html = render_html(summarise(rows, ["A", "B"], META, compared))
    assert "<h2>Other weighings</h2>" in html and "<td>keywords alone</td>" in html
    assert "Other weighings" not in render_html(summarise(rows, ["A", "B"], META))
