"""The bundled server's token loop (app/modelserver/decoding.py), with the real model: the
grammar checked only when the model strays gives the answer llama's own loop gives."""

from __future__ import annotations

import json
from typing import Any

import llama_cpp
import numpy as np
import pytest

from app.modelfetch import MODELS, default_models_dir, ensure_model
from app.modelserver.decoding import Decoder, GrammarCheck
from app.modelserver.engine import LoadedModel, Sampling, grammar_for
from app.modelserver.forced import Forced

SCHEMA = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string", "maxLength": 300},
        "category": {"type": "string", "enum": ["Invoice", "Income statement", "none"]},
    },
    "required": ["reasoning", "category"],
}


@pytest.fixture(scope="module")
def small_model() -> LoadedModel:
    spec = MODELS["qwen2.5-coder:0.5b"]
    path = ensure_model(spec.name, default_models_dir())
    return LoadedModel(spec, path, n_ctx=2048, n_threads=2)


def llama_answer(model: LoadedModel, tokens: list[int], schema: dict[str, Any]) -> str:
    """What llama-cpp-python's own loop answers: the grammar over every token, one at a time."""
    llm = model.llm
    llm.reset()
    out: list[int] = []
    grammar = grammar_for(schema)
    for token in llm.generate(tokens, temp=0, repeat_penalty=1.0, grammar=grammar):
        if llama_cpp.llama_vocab_is_eog(model._vocab, token) or len(out) >= 120:
            break
        out.append(token)
    return llm.detokenize(out).decode()


def docsort_answer(model: LoadedModel, tokens: list[int]) -> str:
    model.llm.reset()
    sampling = Sampling(temperature=0, repeat_penalty=1.0, num_predict=120)
    pieces = list(model.complete(tokens, sampling, grammar_for(SCHEMA), None, 0))
    return "".join(p.text for p in pieces[:-1])


DOCUMENTS = [
    "INVOICE 2026-17. ACME GmbH. Amount due: 480 EUR by 31 Dec. Bank: DE89 3704 0044.",
    "The fog comes on little cat feet. It sits looking over harbor and city.",
    "Revenue 1,200; cost of sales 700; gross profit 500; net income 120 for the year.",
]


def prompt(model: LoadedModel, document: str) -> list[int]:
    system = "Classify the document as Invoice, Income statement or none. Answer in JSON."
    return model.chat_prompt([
        {"role": "system", "content": system},
        {"role": "user", "content": f"<document>\n{document}\n</document>"},
    ])  # fmt: skip


@pytest.mark.model
@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_grammar_checked_only_when_needed_answers_as_llama_does(
    small_model: LoadedModel, document: str
) -> None:
    """Every token is read alone, as llama reads it, so the answers must be the same byte for
    byte: the lazy grammar check changes nothing."""
    tokens = prompt(small_model, document)
    assert docsort_answer(small_model, tokens) == llama_answer(small_model, tokens, SCHEMA)


@pytest.mark.model
@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_end_the_schema_forces_is_not_generated_and_the_answer_stays_the_models(
    small_model: LoadedModel, document: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the category's first tokens leave one name, the rest is written without the
    model: the answer llama's own loop gives (but for the spaces it leaves out), in fewer
    steps, the written tokens with logprob 0."""
    tokens = prompt(small_model, document)
    steps: list[int] = []
    feed = Decoder.feed

    def counted(self: Decoder, tokens: list[int]) -> np.ndarray:
        steps.append(len(tokens))
        return feed(self, tokens)

    monkeypatch.setattr(Decoder, "feed", counted)
    plain = docsort_answer(small_model, tokens)
    plain_steps, steps[:] = len(steps), []
    small_model.llm.reset()
    sampling = Sampling(temperature=0, repeat_penalty=1.0, num_predict=120)
    forced = Forced.of(SCHEMA)
    *pieces, finish = small_model.complete(tokens, sampling, grammar_for(SCHEMA), 3, 0, forced)
    answer = "".join(p.text for p in pieces)
    assert json.loads(answer) == json.loads(plain) == json.loads(plain.strip())
    assert answer.endswith('"}') and finish.reason == "stop"
    assert len(steps) <= plain_steps - 2  # the end of the answer at least, and the stop
    written = [lp for p in pieces for lp in p.logprobs][-len(finish.context) + len(tokens) :]
    assert written[-1]["token"].endswith("}") and written[-1]["logprob"] == 0.0
    assert written[-1]["top_logprobs"] == [
        {k: written[-1][k] for k in ("token", "logprob", "bytes")}
    ]


@pytest.mark.model
def test_sampling_with_a_temperature_follows_the_seed_and_the_grammar(
    small_model: LoadedModel,
) -> None:
    """A retry samples (temperature 0.4, a seed): llama's own chain, grammar included."""
    tokens = prompt(small_model, DOCUMENTS[0])
    sampling = Sampling(temperature=0.4, seed=1, num_predict=120)

    def answer() -> str:
        small_model.llm.reset()
        pieces = list(small_model.complete(tokens, sampling, grammar_for(SCHEMA), None, 0))
        return "".join(p.text for p in pieces[:-1])

    first = answer()
    assert answer() == first
    assert json.loads(first)["category"] in SCHEMA["properties"]["category"]["enum"]


@pytest.mark.model
def test_the_likeliest_allowed_token_is_the_one_the_whole_vocabulary_gives(
    small_model: LoadedModel,
) -> None:
    """GrammarCheck.best asks the likeliest tokens one by one before it runs the grammar over
    the vocabulary: it must pick what the vocabulary-wide mask picks, ties included, whether
    the allowed token is among those asked or not."""
    llm = small_model.llm
    grammar = grammar_for({"type": "string", "enum": ["Invoice", "none"]})
    check = GrammarCheck(llm, grammar)
    rng = np.random.default_rng(0)

    def masked(logits: np.ndarray) -> np.ndarray:
        check._all_view["logit"] = logits
        check._apply(check._all, len(logits))
        return check._all_view["logit"].copy()

    allowed = np.flatnonzero(np.isfinite(masked(np.zeros(llm.n_vocab(), np.float32))))
    assert 1 < len(allowed) < 1000
    try:
        for case in range(40):
            logits = rng.normal(size=llm.n_vocab()).astype(np.float32)
            if case % 2:  # allowed tokens among the likeliest, tied, behind refused ones
                tied = rng.choice(allowed, size=min(3, len(allowed)), replace=False)
                logits[tied] = logits.max() - 0.25
            assert check.best(logits) == int(np.argmax(masked(logits)))
    finally:
        check.close()
