"""Pure functions over (expected, got, confidence): no I/O, so each is tested on hand-made
examples with known answers.

A metric that is undefined for the data (precision of a label never predicted, AUROC with no
wrong answers) is None rather than 0, so a report can show "—" instead of a misleading number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

FAILED = "failed"
BINS = 10


@dataclass(frozen=True)
class ClassScores:
    label: str
    precision: float | None
    recall: float | None
    f1: float | None
    support: int
    predicted: int


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    count: int
    mean_confidence: float | None
    accuracy: float | None


@dataclass(frozen=True)
class Calibration:
    count: int
    ece: float | None
    bins: list[Bin]
    mean_when_right: float | None
    mean_when_wrong: float | None
    auroc: float | None
    temperature: float | None  # the one that would make this confidence honest on this run
    ece_tempered: float | None  # the ECE it would then have


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _mean(values: Sequence[float]) -> float | None:
    return _ratio(sum(values), len(values))


def accuracy(expected: Sequence[str], got: Sequence[str]) -> float | None:
    return _ratio(sum(e == g for e, g in zip(expected, got, strict=True)), len(expected))


def class_scores(
    expected: Sequence[str], got: Sequence[str], labels: Sequence[str]
) -> list[ClassScores]:
    """One row per label. F1 is 2TP / (2TP + FP + FN): the harmonic mean of precision and
    recall, yet still defined when one of them is not (e.g. a label never predicted)."""
    rows = []
    for label in labels:
        tp = sum(e == g == label for e, g in zip(expected, got, strict=True))
        support = sum(e == label for e in expected)
        predicted = sum(g == label for g in got)
        rows.append(
            ClassScores(
                label=label,
                precision=_ratio(tp, predicted),
                recall=_ratio(tp, support),
                f1=_ratio(2 * tp, support + predicted),
                support=support,
                predicted=predicted,
            )
        )
    return rows


def macro_f1(scores: Sequence[ClassScores]) -> float | None:
    """Mean F1 over the labels that occur (expected or predicted). A category absent from both
    sides has no F1 at all; counting it as 0 would punish a small or --limit run for labels
    it never saw."""
    return _mean([s.f1 for s in scores if s.f1 is not None])


def confusion(
    expected: Sequence[str], got: Sequence[str], labels: Sequence[str]
) -> tuple[list[str], list[list[int]]]:
    """Counts with rows = expected label, columns = got label. Columns are `labels`, plus
    "failed" (and any unknown answer) when some file got one."""
    columns = list(labels) + sorted({g for g in got if g not in labels})
    index = {label: i for i, label in enumerate(columns)}
    counts = [[0] * len(columns) for _ in labels]
    rows = {label: i for i, label in enumerate(labels)}
    for e, g in zip(expected, got, strict=True):
        counts[rows[e]][index[g]] += 1
    return columns, counts


def reliability(confidences: Sequence[float], right: Sequence[bool]) -> list[Bin]:
    """Ten equal-width bins over [0, 1]; a confidence of exactly 1 falls in the last one."""
    members: list[list[int]] = [[] for _ in range(BINS)]
    for i, c in enumerate(confidences):
        members[min(int(c * BINS), BINS - 1)].append(i)
    return [
        Bin(
            low=b / BINS,
            high=(b + 1) / BINS,
            count=len(m),
            mean_confidence=_mean([confidences[i] for i in m]),
            accuracy=_mean([float(right[i]) for i in m]),
        )
        for b, m in enumerate(members)
    ]


def ece(bins: Sequence[Bin]) -> float | None:
    """Expected calibration error: the gap |accuracy − confidence| per bin, weighted by how
    many files fell in it."""
    total = sum(b.count for b in bins)
    if not total:
        return None
    return sum(
        b.count / total * abs(b.accuracy - b.mean_confidence)
        for b in bins
        if b.count and b.accuracy is not None and b.mean_confidence is not None
    )


def auroc(confidences: Sequence[float], right: Sequence[bool]) -> float | None:
    """The chance that a right answer has a higher confidence than a wrong one (ties count
    half): 0.5 means the confidence cannot tell them apart, 1.0 separates them perfectly."""
    good = [c for c, r in zip(confidences, right, strict=True) if r]
    bad = [c for c, r in zip(confidences, right, strict=True) if not r]
    if not good or not bad:
        return None
    wins = sum((g > b) + 0.5 * (g == b) for g in good for b in bad)
    return wins / (len(good) * len(bad))


def temper(probability: float, temperature: float) -> float:
    """Divide a probability's log-odds by `temperature`: the one-number fix a report
    suggests for a confidence that runs hot (above 1) or cold. Order is kept: a more
    confident verdict stays more confident."""
    p = min(max(probability, 1e-9), 1 - 1e-9)
    return 1 / (1 + math.exp(-math.log(p / (1 - p)) / temperature))


def fit_temperature(confidences: Sequence[float], right: Sequence[bool]) -> float | None:
    """The temperature (see temper) with the lowest log loss on these
    verdicts, searched on a log grid from 0.25 to 50."""
    if not confidences or all(right) or not any(right):
        return None

    def loss(t: float) -> float:
        tempered = [min(max(temper(c, t), 1e-9), 1 - 1e-9) for c in confidences]
        return -sum(math.log(p if ok else 1 - p) for p, ok in zip(tempered, right, strict=True))

    grid = [0.25 * 200 ** (i / 199) for i in range(200)]
    return min(grid, key=loss)


def calibration(confidences: Sequence[float], right: Sequence[bool]) -> Calibration:
    bins = reliability(confidences, right)
    temperature = fit_temperature(confidences, right)
    tempered = None
    if temperature is not None:
        tempered = ece(reliability([temper(c, temperature) for c in confidences], right))
    return Calibration(
        count=len(confidences),
        ece=ece(bins),
        bins=bins,
        mean_when_right=_mean([c for c, r in zip(confidences, right, strict=True) if r]),
        mean_when_wrong=_mean([c for c, r in zip(confidences, right, strict=True) if not r]),
        auroc=auroc(confidences, right),
        temperature=temperature,
        ece_tempered=tempered,
    )


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between the nearest ranks (numpy's default), defined for any
    non-empty list, unlike statistics.quantiles on Python 3.11."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
