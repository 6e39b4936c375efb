"""What a finished run would have scored with other weighings, from what each verdict
recorded it weighed (the model's probabilities, the keywords found): no model call, so a
user tuning DOCSORT_MODEL_WEIGHT and the keyword rates sees the effect in a second.

The best rows are fitted to the folder they were measured on: a setting that wins by a file
or two is noise, and any setting is worth checking on files that were not used to pick it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from ..verdict.evidence import Weighing
from ..verdict.keywords import Match
from . import metrics

NONE = "none"
MODEL_WEIGHTS = (0.1, 0.2, 0.35, 0.5, 1.0)
HIT_RATES = (0.3, 0.5, 0.7)
STRAY_RATES = (0.05, 0.1, 0.2)
SHOWN = 5
TITLE = (
    "Other weighings, re-weighed from what each verdict recorded (no model call; the grid's"
    " best are fitted to these files)"
)
COLUMNS = ["weighing", "model weight", "hit rate", "stray rate", "right", "accuracy",
           "macro-F1", "none P", "none R", "ECE"]  # fmt: skip


def grid(examples_weight: float = Weighing.examples_weight) -> list[Weighing]:
    return [
        Weighing(weight, hit, stray, examples_weight)
        for weight, hit, stray in itertools.product(MODEL_WEIGHTS, HIT_RATES, STRAY_RATES)
        if stray < hit
    ]


def _verdict(
    weighing: Weighing | None, evidence: dict[str, Any], categories: list[dict[str, Any]]
) -> tuple[str, float]:
    """The name and confidence a weighing gives; None weighs the model's answer alone."""
    model = evidence["model_probabilities"] or {evidence["model_answer"]: 1.0}
    if weighing is None:
        answer = evidence["model_answer"]
        return answer, model.get(answer, 0.0)
    totals = {c["name"]: len(c.get("keywords") or []) for c in categories}
    found = [
        Match(name, tuple(words), totals[name])
        for name, words in evidence["keywords_found"].items()
        if name in totals
    ]
    learned = (evidence.get("examples") or {}).get("probabilities")
    familiar = evidence.get("familiarity", 1.0)
    return weighing.verdict(
        model, found, categories, NONE, evidence["model_answer"], learned, familiar
    )


def score(
    rows: list[dict[str, Any]], categories: list[dict[str, Any]], weighing: Weighing | None
) -> dict[str, Any]:
    """The headline figures of `rows` re-weighed. A row without the model's evidence (a
    failed file, a file with no text, a verdict the examples made alone) keeps the verdict it
    got."""
    expected, got, confidences = [], [], []
    for row in rows:
        expected.append(row["expected"])
        if (row.get("evidence") or {}).get("model_answer"):
            name, confidence = _verdict(weighing, row["evidence"], categories)
            got.append(name)
            confidences.append(confidence)
        else:
            got.append(row["got"])
            confidences.append(row["confidence"] or 0.0)
    labels = [*(c["name"] for c in categories), NONE]
    scores = metrics.class_scores(expected, got, labels)
    none = next(s for s in scores if s.label == NONE)
    right = [e == g for e, g in zip(expected, got, strict=True)]
    bins = metrics.reliability(confidences, right)
    return {
        "model_weight": weighing and weighing.model_weight,
        "hit_rate": weighing and weighing.hit_rate,
        "stray_rate": weighing and weighing.stray_rate,
        "right": sum(right),
        "accuracy": metrics.accuracy(expected, got),
        "macro_f1": metrics.macro_f1(scores),
        "none_precision": none.precision,
        "none_recall": none.recall,
        "ece": metrics.ece(bins),
    }


def compare(
    rows: list[dict[str, Any]], categories: list[dict[str, Any]], current: Weighing
) -> dict[str, Any] | None:
    """The current weighing, the model alone, the keywords alone (model weight 0) and the
    best of the grid; None when no verdict recorded its evidence."""
    if not any(row.get("evidence") for row in rows):
        return None
    tried = sorted(
        (score(rows, categories, w) for w in grid(current.examples_weight)),
        key=lambda s: (-s["right"], -(s["macro_f1"] or 0)),
    )
    return {
        "current": score(rows, categories, current),
        "model_alone": score(rows, categories, None),
        "keywords_alone": score(
            rows,
            categories,
            Weighing(0.0, current.hit_rate, current.stray_rate, current.examples_weight),
        ),
        "best": tried[:SHOWN],
    }


def table_rows(
    compared: dict[str, Any], num: Callable[[float | None, int], str]
) -> list[list[str]]:
    """COLUMNS for each weighing compared, numbers written by the report's `num`."""
    named = [
        ("current", compared["current"]),
        ("model alone", compared["model_alone"]),
        ("keywords alone", compared["keywords_alone"]),
        *(("grid", s) for s in compared["best"]),
    ]
    return [
        [name, num(s["model_weight"], 2), num(s["hit_rate"], 2), num(s["stray_rate"], 2),
         str(s["right"]), num(s["accuracy"], 3), num(s["macro_f1"], 3),
         num(s["none_precision"], 2), num(s["none_recall"], 2), num(s["ece"], 3)]
        for name, s in named
    ]  # fmt: skip
