"""Confidence from the model's own token probabilities, read where it names the category.

Small models asked to write a confidence say 0.9 or 1.0 whatever the verdict. The
probability the model gave the category it wrote is a better signal: at each token of the
category's value, the chosen token's probability is renormalised over the tokens that could
still spell one of the allowed names (the only ones the schema lets through), and the
product over the name's tokens is the confidence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_CATEGORY_VALUE = re.compile(r'"category"\s*:\s*"')
_CATEGORY_OPENED = re.compile(r'"category"\s*:\s*"$')


@dataclass(frozen=True)
class Token:
    text: str
    logprob: float
    top: Sequence[tuple[str, float]]


def _fits(candidate: str, spelled: str, names: Sequence[str]) -> bool:
    """Whether `spelled + candidate` can still become one of the names, closed by a quote."""
    text = spelled + candidate
    return any((name + '"').startswith(text) or text.startswith(name + '"') for name in names)


def category_probability(
    tokens: Sequence[Token], category: str, names: Sequence[str]
) -> float | None:
    """P(the model writes `category` | everything before it), or None if it can't be read.

    Offsets come from the tokens' own text, since a character split across byte tokens
    can make it differ from the decoded answer before the category."""
    text = "".join(token.text for token in tokens)
    matches = list(_CATEGORY_VALUE.finditer(text))
    target = category + '"'
    if not matches or not text.startswith(target, matches[-1].end()):
        return None
    start, offset, probability = matches[-1].end(), 0, 1.0
    for token in tokens:
        end = offset + len(token.text)
        if end > start:
            lead = text[offset:start]
            spelled = text[start:offset]
            chosen = math.exp(token.logprob)
            total = sum(
                math.exp(logprob)
                for candidate, logprob in token.top
                if candidate.startswith(lead) and _fits(candidate[len(lead) :], spelled, names)
            )
            if all(candidate != token.text for candidate, _ in token.top):
                total += chosen
            probability *= chosen / total
            if end >= start + len(target):
                break
        offset = end
    return probability


def _mass_by_name(
    candidates: Iterable[tuple[str, float]], names: Sequence[str], strip: str | None = None
) -> dict[str, float]:
    """The probability of the candidate tokens that start each name (ignoring case and the
    `strip` characters around them), a token that starts several names shared among them."""
    mass = dict.fromkeys(names, 0.0)
    for text, logprob in candidates:
        word = text.strip(strip).casefold()
        matches = [name for name in names if word and name.casefold().startswith(word)]
        for name in matches:
            mass[name] += math.exp(logprob) / len(matches)
    return mass


def category_distribution(tokens: Sequence[Token], names: Sequence[str]) -> dict[str, float]:
    """P(name) for each of `names` at the first token of the "category" value, where the
    model weighs the names against each other after its reasoning. The server's
    probabilities there come before the schema's grammar, so case and spacing variants
    ("receipt", " Receipt") count for the name they start, and a token that starts several
    names ("N": News article, none) is shared. Empty when no probabilities came back."""
    text = ""
    for token in tokens:
        if _CATEGORY_OPENED.search(text):
            candidates = dict(token.top)
            candidates.setdefault(token.text, token.logprob)
            mass = _mass_by_name(candidates.items(), names, ' _."')
            total = sum(mass.values())
            return {name: value / total for name, value in mass.items()} if total else {}
        text += token.text
    return {}


def first_token_probability(
    tokens: Sequence[Token], category: str, names: Sequence[str]
) -> float | None:
    """P(`category`) read from the first token of the answer, where the model, before any
    JSON or reasoning, would have named a category outright: each alternative there that
    starts a name (ignoring case and space) counts for that name, shared when it starts
    several. A server whose logprobs are taken after the JSON grammar shows no names here,
    and gets None."""
    if not tokens:
        return None
    mass = _mass_by_name(tokens[0].top, names)
    total = sum(mass.values())
    return mass[category] / total if total > 0 else None


def _names_started(text: str, names: Sequence[str]) -> list[str]:
    """The names a token could be the start of (ignoring case and space); the token may also
    run past a short name ("receipts")."""
    word = text.strip().casefold()
    if len(word) < 3 or not word[0].isalpha():
        return []
    return [
        name
        for name in names
        if name.casefold().startswith(word) or word.startswith(name.casefold())
    ]


def reasoning_probability(
    tokens: Sequence[Token], category: str, names: Sequence[str]
) -> float | None:
    """P(`category`) where the reasoning first names it: at the token where the model writes
    the chosen category's name ("… is a receipt"), while the alternatives it weighed name
    other categories, the chosen name's share of the names' probability. That is where a
    small model decides; by the time it fills in the "category" field it is sure."""
    spelled = ""
    for token in tokens:
        if '"category"' in spelled:
            return None
        spelled += token.text
        if category not in _names_started(token.text, names):
            continue
        mass = dict.fromkeys(names, 0.0)
        for text, logprob in token.top:
            matches = _names_started(text, names)
            for name in matches:
                mass[name] += math.exp(logprob) / len(matches)
        if sum(value > 0 for value in mass.values()) >= 2:
            return mass[category] / sum(mass.values())
    return None
