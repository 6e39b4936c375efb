"""Turn a document's text into a verdict: one of the classification's categories, or none.

The model answers JSON constrained by a schema: a short reason first, so it commits to a
category only after saying what the document is, then the category. It is not asked for a
confidence: the number a small model writes says nothing (0.95 right or wrong, measured), and
its tokens cost time on a CPU; the confidence comes from app.evidence instead. The answer is
validated here because the schema grammar does not enforce everything.

Keywords are looked for in all the text read; the model sees the first part of it, cut to
`text_tokens`, because every token it reads costs time and keyword matching costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError, field_validator

from ..model import ModelClient
from ..prompts import Prompts
from ..reading import budget
from ..trace import step
from . import keywords, language
from .confidence import (
    category_distribution,
    category_probability,
    first_token_probability,
    reasoning_probability,
)
from .evidence import Weighing
from .examples import Learned, Learner
from .guard import strip_orders

log = logging.getLogger(__name__)

NONE = "none"
REASONING_MAX = 150


class InvalidAnswer(Exception):
    """The model kept answering something that is not a valid verdict."""


class Answer(BaseModel):
    reasoning: str
    category: str

    @field_validator("reasoning")
    @classmethod
    def _short(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("empty reasoning")
        return value[:REASONING_MAX]


@dataclass(frozen=True)
class Verdict:
    category_id: str | None
    confidence: float
    reasoning: str
    confidence_sources: dict[str, float]
    # What was weighed, to show why and to re-weigh offline (app.evaluation): the model's
    # answer and its probabilities by name, the keywords found by category, and what the
    # examples said (their probabilities and the nearest ones).
    evidence: dict[str, Any]
    source: str = "model"  # or "examples": they decided alone, the model was not asked


@dataclass(frozen=True)
class Rendered:
    system: str
    user: str
    found: list[keywords.Match]
    language: str  # the document's likeliest
    familiar: float  # 1 less the probability that it is in another language than theirs


def explain(answer: Answer, chosen: str, rendered: Rendered, learned: Learned | None = None) -> str:
    """The model's reasoning and the keywords (and examples) weighed with it; when the
    verdict is not the model's answer, that comes first."""
    found = rendered.found
    words = "; ".join(f"{m.category}: {', '.join(m.words)}" for m in found)
    if chosen == answer.category:
        return f"{answer.reasoning} Keywords found: {words}." if found else answer.reasoning
    weighed = [f"the keywords found ({words})"] if found else []
    if learned is not None and learned.examples:
        weighed.append(f"{learned.examples} labelled examples")
    elif learned is not None:
        weighed.append("the categories' descriptions")
    why = " and ".join(weighed) or "the model's probabilities"
    missing = "" if found else "; no keywords were found"
    foreign = ""
    if language.foreign(rendered.familiar):
        foreign = (
            f" The document reads as {language.name(rendered.language)}, not the"
            " categories' language: the model's answer and missing keywords count for less."
        )
    return (
        f"{chosen}, not the model's {answer.category}, once {why} are weighed{missing}.{foreign}"
        f" The model: {answer.reasoning}"
    )


def like_examples(learned: Learned, chosen: str) -> str:
    """The reasoning of a verdict the examples made alone: which labelled files it is like."""
    like = learned.like(chosen)
    if not like:
        return f"Filed as {chosen} by what the labelled examples learned."
    names = ", ".join(n.file_name for n in like[:2])
    shown = len(learned.nearest)
    return f"Like {len(like)} of the {shown} nearest files filed as {chosen}, e.g. {names}."


def examples_evidence(learned: Learned | None) -> dict[str, Any] | None:
    if learned is None:
        return None
    return {
        "count": learned.examples,
        "probabilities": {n: round(p, 6) for n, p in learned.probabilities.items()},
        "nearest": [
            {"file_id": n.file_id, "file_name": n.file_name, "category": n.category,
             "similarity": n.similarity}
            for n in learned.nearest
        ],
    }  # fmt: skip


def _weighed(rendered: Rendered) -> dict[str, Any]:
    return {
        "keywords_found": {m.category: list(m.words) for m in rendered.found},
        "language": rendered.language,
        "familiarity": round(rendered.familiar, 4),
    }


def answer_schema(category_names: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "reasoning": {"type": "string", "maxLength": REASONING_MAX},
            "category": {"type": "string", "enum": [*category_names, NONE]},
        },
        "required": ["reasoning", "category"],
    }


def _part(text: str, tokens: int | None) -> str:
    """The start and end of `text` within `tokens` (None: all of it)."""
    return budget.fit(text, tokens) if tokens else text


class Classifier:
    def __init__(
        self,
        model: ModelClient,
        prompts: Prompts,
        retries: int = 2,
        weighing: Weighing | None = None,
        text_tokens: int | None = None,
        embed_tokens: int | None = None,
        learner: Learner | None = None,
        sure: float = 0.9999,
        sure_examples: int = 3,
    ):
        self.model = model
        self.prompts = prompts
        self.retries = retries
        self.weighing = weighing or Weighing()
        self.text_tokens = text_tokens  # None: the model sees all the text it is given
        # None: what the model sees is embedded
        self.embed_tokens = text_tokens if embed_tokens is None else embed_tokens
        self.learner = learner or Learner()
        # The examples alone decide, and the model is not asked, when they give a name this
        # much probability (above 1: never) and that name has `sure_examples` examples: a
        # category seen once or twice is not known well enough to skip the model. On the dev
        # set (EXAMPLES=4, 8 and LEARN, 10 orders each) at 0.9999, 98.3-99.6% of those
        # verdicts were right (at 0.999, 97-98.5%; at 0.99, 93-98%), and asking the model
        # would have changed 5 of those 1,453.
        self.sure = sure
        self.sure_examples = sure_examples

    def shown(self, text: str) -> str:
        """The part of a document the model reads, orders dropped."""
        return _part(strip_orders(text), self.text_tokens)

    def embedded(self, text: str) -> str:
        """The part of a document the examples learn from. A budget of its own: the model
        pays for every token it reads, embedding a few more costs little. Replayed over ten
        learning orders of the dev set, examples embedded from 250 tokens decided alone a
        little more often than from 180 (64% of the second half against 62%) and as well as
        from 500."""
        return _part(strip_orders(text), self.embed_tokens)

    def _render(self, classification: dict[str, Any], text: str) -> Rendered:
        categories = classification["categories"]
        context = {"classification": classification, "categories": categories}
        kept = strip_orders(text)
        found = keywords.matches(kept, categories)
        shown = _part(kept, self.text_tokens)
        return Rendered(
            self.prompts.render("classify_system", **context),
            self.prompts.render("classify_user", **context, text=shown, matches=found),
            found,
            *language.familiarity(kept, categories),
        )

    def _from_examples(
        self, categories: list[dict[str, Any]], rendered: Rendered, learned: Learned
    ) -> Verdict | None:
        """The verdict of sure examples, weighed with the keywords; None when they are not
        sure enough, or the keywords pull elsewhere. How sure is the examples' own (calibrated)
        probability: the weighed confidence cannot be the bar, since the floors every name
        keeps hold it below 0.99 where no keyword is found (a document in another language)."""
        top, probability = learned.top()
        if probability < self.sure or learned.counts[top] < self.sure_examples:
            return None
        chosen, confidence = self.weighing.verdict(
            None, rendered.found, categories, NONE, top, learned.probabilities, rendered.familiar
        )
        if chosen != top:
            return None
        by_name = {c["name"]: c["id"] for c in categories}
        evidence = {
            "decided_by": "examples",
            **_weighed(rendered),
            "examples": examples_evidence(learned),
        }
        reasoning = like_examples(learned, chosen)
        return Verdict(by_name.get(chosen), confidence, reasoning, {}, evidence, "examples")

    async def classify(
        self, classification: dict[str, Any], text: str, learned: Learned | None = None
    ) -> Verdict:
        categories = classification["categories"]
        by_name = {c["name"]: c["id"] for c in categories}
        schema = answer_schema(list(by_name))
        with step("render"):
            rendered = await asyncio.to_thread(self._render, classification, text)
        if learned is not None and (verdict := self._from_examples(categories, rendered, learned)):
            return verdict
        problem = ""
        for attempt in range(self.retries + 1):
            reply = await self.model.chat_json(rendered.system, rendered.user, schema, attempt)
            try:
                answer = Answer.model_validate_json(reply.content)
            except ValidationError as exc:
                problem = f"invalid JSON verdict: {exc.errors()[0]['msg']}"
                log.warning("model answer rejected (%s): %r", problem, reply.content[:200])
                continue
            if answer.category != NONE and answer.category not in by_name:
                problem = f"the model named an unknown category {answer.category!r}"
                log.warning(problem)
                continue
            sources = {}
            names = [*by_name, NONE]
            for source, reader in (
                ("logprob", category_probability),
                ("first_token", first_token_probability),
                ("reasoning", reasoning_probability),
            ):
                value = reader(reply.tokens, answer.category, names)
                if value is not None:
                    sources[source] = value
            model = category_distribution(reply.tokens, names) or {answer.category: 1.0}
            chosen, confidence = self.weighing.verdict(
                model, rendered.found, categories, NONE, answer.category,
                learned.probabilities if learned else None, rendered.familiar,
            )  # fmt: skip
            reasoning = explain(answer, chosen, rendered, learned)
            evidence = {
                "decided_by": "model",
                "model_answer": answer.category,
                "model_probabilities": {n: round(p, 6) for n, p in model.items()},
                **_weighed(rendered),
                "examples": examples_evidence(learned),
            }
            return Verdict(by_name.get(chosen), confidence, reasoning, sources, evidence)
        raise InvalidAnswer(
            f"the model gave no valid verdict in {self.retries + 1} tries (last: {problem})"
        )
