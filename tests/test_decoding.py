"""The bundled server's token loop (app/modelserver/decoding.py): the answer's skeleton, the
drafts proposed from it and from the prompt, and, with the real model, that the lazily
checked grammar and the drafts give the answer llama's own loop gives."""

from __future__ import annotations

import json
from typing import Any

import llama_cpp
import pytest

from app.modelfetch import MODELS, default_models_dir, ensure_model
from app.modelserver.decoding import DRAFT_MAX, Drafter, skeleton
from app.modelserver.engine import LoadedModel, Sampling, grammar_for

SCHEMA = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string", "maxLength": 300},
        "category": {"type": "string", "enum": ["Invoice", "Income statement", "none"]},
    },
    "required": ["reasoning", "category"],
}
END = 0


class Letters:
    """A stand-in tokenizer: one token per character, the end of text is token 0."""

    def tokenize(self, text: bytes, add_bos: bool = False, special: bool = False) -> list[int]:
        return list(text)

    def token_eos(self) -> int:
        return END


def spell(text: str) -> list[int]:
    return list(text.encode())


def test_skeleton_spells_the_fixed_text_of_every_answer_in_both_spacings() -> None:
    pieces = skeleton(SCHEMA)
    assert pieces[0] == '{"reasoning":"'
    assert '{"reasoning": "' in pieces
    assert '","category":"Income statement"}' in pieces
    assert '", "category": "none"}' in pieces
    assert len(pieces) == 2 + 2 * 3


def test_skeleton_leaves_out_the_quotes_of_values_that_have_none() -> None:
    schema = {"type": "object", "properties": {"total": {"type": "number"}, "paid": {}}}
    assert skeleton(schema) == ['{"total":', ',"paid":', "}", '{"total": ', ', "paid": ']


def test_a_draft_starts_the_answer_and_finishes_an_enum_value_once_it_is_told_apart() -> None:
    drafter = Drafter(Letters(), spell("<document>Rechnung</document>"), SCHEMA)  # type: ignore[arg-type]
    assert bytes(drafter.propose([])) == b'{"reasoning":'[:DRAFT_MAX]
    after_reason = spell('{"reasoning":"A bill.","category":"')
    assert drafter.propose(after_reason) == []  # the model picks the first letter of the name
    assert drafter.propose(after_reason + spell("In")) == []  # Invoice or Income statement
    rest = drafter.propose(after_reason + spell("Inc"))
    assert rest == spell("ome statement")[:DRAFT_MAX]
    assert drafter.propose(spell(', "category": "none')) == [*spell('"}'), END]


def test_a_draft_repeats_the_prompt_where_the_last_tokens_follow_it() -> None:
    drafter = Drafter(Letters(), spell("the seller ACME GmbH asks"), None)  # type: ignore[arg-type]
    assert drafter.propose(spell("It is from ACM")) == spell("E GmbH a")
    assert drafter.propose(spell("It is from Zq")) == []


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


def docsort_answer(model: LoadedModel, tokens: list[int], schema: dict[str, Any] | None) -> str:
    model.llm.reset()
    sampling = Sampling(temperature=0, repeat_penalty=1.0, num_predict=120)
    pieces = list(model.complete(tokens, sampling, grammar_for(SCHEMA), None, 0, schema))
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
    small_model: LoadedModel, document: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without drafts every token is read alone, as llama reads it: the answers must be the
    same byte for byte, so the lazy grammar check changes nothing. (A draft read in a batch
    may move a logit in its last digits, as any change of batch does in llama.cpp.)"""
    monkeypatch.setattr(Drafter, "propose", lambda self, generated: [])
    tokens = prompt(small_model, document)
    assert docsort_answer(small_model, tokens, None) == llama_answer(small_model, tokens, SCHEMA)


@pytest.mark.model
def test_drafts_are_checked_in_batches_and_give_a_valid_answer(small_model: LoadedModel) -> None:
    batches: list[int] = []
    feed = small_model.decoder.feed

    def counting(tokens: list[int], every: bool) -> Any:
        batches.append(len(tokens))
        return feed(tokens, every)

    small_model.decoder.feed = counting  # type: ignore[method-assign]
    try:
        answer = json.loads(docsort_answer(small_model, prompt(small_model, DOCUMENTS[0]), SCHEMA))
    finally:
        del small_model.decoder.feed
    assert answer["category"] in SCHEMA["properties"]["category"]["enum"]
    generated = batches[1:]  # the first batch is the prompt
    assert max(generated) > 1, "no draft was checked"
    assert len(generated) < sum(generated), "drafts saved no step"
