"""The token loop: a grammar checked only when the model strays, and drafts verified in batches.

llama-cpp-python's own loop (Llama.generate) runs the grammar over the whole vocabulary
(152k tokens for Qwen) at every step, which here cost about as much as the step itself
(36 of 94 ms a token, measured on 2 cores), and decodes the schema's fixed tokens one by one.
At temperature 0 neither is needed for the same answer: the most likely token is taken as
is when the grammar allows it (the grammar masks only the tokens it refuses, so the argmax
of the masked logits is that token), and only otherwise is the grammar applied to every
token. Tokens that the answer very likely repeats (the schema's keys and punctuation, the
rest of an enum value, words of the prompt) are proposed as a draft and checked in one batch,
which reads them at prompt speed; a greedy check keeps exactly the tokens the model would
have chosen one by one.
"""

from __future__ import annotations

import ctypes
import json
from collections.abc import Iterator, Sequence
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp import Llama, LlamaGrammar

DRAFT_MAX = 8  # tokens checked at once: past this a batch costs more than it can save
NGRAM_MAX = 3  # the longest run of recent tokens looked up in the prompt
NGRAM_MIN = 2  # a single token of the prompt predicts too little to be worth a check
_MARK = "\ue000"  # where the model writes a value of its own, in the answer's skeleton
_BARE = "\ue001"  # a value written without quotes (a number, a list): its quotes go too
_TOKEN_DATA = np.dtype([("id", np.intc), ("logit", np.float32), ("p", np.float32)], align=True)


class GrammarCheck:
    """One grammar sampler, asked about one token first and about the vocabulary only when
    that token is refused."""

    def __init__(self, llm: Llama, grammar: LlamaGrammar) -> None:
        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._sampler = llama_cpp.llama_sampler_init_grammar(
            vocab, grammar._grammar.encode(), grammar._root.encode()
        )
        n_vocab = llm.n_vocab()
        self._all = (llama_cpp.llama_token_data * n_vocab)()
        self._all_view = np.frombuffer(self._all, dtype=_TOKEN_DATA)
        self._all_view["id"] = np.arange(n_vocab, dtype=np.intc)
        self._one = (llama_cpp.llama_token_data * 1)()

    def allows(self, token: int) -> bool:
        self._one[0].id, self._one[0].logit, self._one[0].p = token, 0.0, 0.0
        self._apply(self._one, 1)
        return bool(np.isfinite(self._one[0].logit))

    def best(self, logits: np.ndarray) -> int:
        """The most likely token of those the grammar allows."""
        self._all_view["logit"] = logits
        self._apply(self._all, len(logits))
        return int(np.argmax(self._all_view["logit"]))

    def accept(self, token: int) -> None:
        llama_cpp.llama_sampler_accept(self._sampler, token)

    def close(self) -> None:
        llama_cpp.llama_sampler_free(self._sampler)

    def _apply(self, data: ctypes.Array[Any], size: int) -> None:
        array = llama_cpp.llama_token_data_array(data=data, size=size, selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(self._sampler, ctypes.byref(array))


def skeleton(schema: dict[str, Any]) -> list[str]:
    """The text an answer to `schema` writes whatever the document says: one piece per run
    between the values the model chooses, every enum value spelled out, each in the two
    spellings a model writes under llama.cpp's grammar (compact, and a space after `:` and
    `,`). `{"reasoning": "` starts an answer, and `", "category": "Invoice"}` ends one."""

    def instance(node: Any) -> list[Any]:
        if not isinstance(node, dict):
            return [_BARE]
        if "enum" in node:
            return list(node["enum"])
        if "const" in node:
            return [node["const"]]
        if node.get("type") == "object" and isinstance(node.get("properties"), dict):
            shapes: list[dict[str, Any]] = [{}]
            for key, child in node["properties"].items():
                values = instance(child)
                shapes = [dict(shape, **{key: value}) for shape in shapes for value in values]
            return shapes
        return [_MARK if node.get("type") == "string" else _BARE]

    pieces: list[str] = []
    for answer in instance(schema):
        for separators in ((",", ":"), (", ", ": ")):
            text = json.dumps(answer, separators=separators, ensure_ascii=False)
            text = text.replace(f'"{_BARE}"', _MARK)
            for piece in text.split(_MARK):
                if piece and piece not in pieces:
                    pieces.append(piece)
    return pieces


class Drafter:
    """Proposes the tokens that likely come next: the answer's skeleton when the last tokens
    are part of it (with the end of the answer after its closing brace), else a run of the
    prompt that followed the same tokens there."""

    def __init__(self, llm: Llama, prompt: Sequence[int], schema: dict[str, Any] | None) -> None:
        self._prompt = np.asarray(prompt, dtype=np.intc)
        end = [llm.token_eos()]
        self._pieces = [
            llm.tokenize(piece.encode(), add_bos=False, special=False)
            + (end if piece.endswith(("}", "]")) else [])
            for piece in (skeleton(schema) if isinstance(schema, dict) else [])
        ]

    def propose(self, generated: Sequence[int]) -> list[int]:
        if not generated:
            starts = [piece for piece in self._pieces if piece[:1] == self._pieces[0][:1]]
            return _common(starts)[:DRAFT_MAX] if self._pieces else []
        from_skeleton = self._from_skeleton(generated)
        if from_skeleton is not None:
            return from_skeleton
        return self._from_prompt(generated)

    def _from_skeleton(self, generated: Sequence[int]) -> list[int] | None:
        """None when the last tokens are in no piece of the skeleton; [] when they are but the
        pieces disagree on what follows (the first token of an enum value is the model's)."""
        for n in range(min(NGRAM_MAX, len(generated)), 0, -1):
            tail = list(generated[-n:])
            followers = []
            for piece in self._pieces:
                for start in range(len(piece) - n + 1):
                    if piece[start : start + n] == tail:
                        followers.append(piece[start + n :])
            if followers:
                return _common(followers)[:DRAFT_MAX]
        return None

    def _from_prompt(self, generated: Sequence[int]) -> list[int]:
        text = self._prompt
        for n in range(min(NGRAM_MAX, len(generated)), NGRAM_MIN - 1, -1):
            tail = np.asarray(generated[-n:], dtype=np.intc)
            windows = np.lib.stride_tricks.sliding_window_view(text[:-1], n)
            hits = np.flatnonzero((windows == tail).all(axis=1))
            if len(hits):
                followers = [text[hit + n : hit + n + DRAFT_MAX].tolist() for hit in hits]
                return _common(followers)
        return []


def _common(runs: list[list[int]]) -> list[int]:
    """The longest start all `runs` share."""
    if not runs:
        return []
    shared: list[int] = []
    for column in zip(*runs, strict=False):
        if any(token != column[0] for token in column):
            break
        shared.append(column[0])
    return shared


def common_prefix(a: np.ndarray, b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    if n == 0:
        return 0
    differ = np.flatnonzero(a[:n] != np.asarray(b[:n], dtype=a.dtype))
    return int(differ[0]) if len(differ) else n


class Decoder:
    """Feeds tokens to llama and reads the logits of each, keeping Llama's record of what its
    cache holds (input_ids, n_tokens) true, so that the next prompt reuses its common start."""

    def __init__(self, llm: Llama) -> None:
        self.llm = llm
        self._n_vocab = llm.n_vocab()

    def start(self, tokens: Sequence[int]) -> int:
        """Drop what the cache holds past its common start with `tokens`, keeping at least one
        token to evaluate (its logits are the first step's); return how many are kept."""
        llm = self.llm
        kept = common_prefix(llm.input_ids[: llm.n_tokens], tokens)
        kept = min(kept, len(tokens) - 1)
        llm._ctx.kv_cache_seq_rm(-1, kept, -1)
        llm.n_tokens = kept
        llm._requires_eval = True
        return kept

    def feed(self, tokens: Sequence[int], every: bool) -> list[np.ndarray]:
        """Evaluate `tokens` after the cache; the logits of each (`every`) or of the last."""
        llm = self.llm
        out: list[np.ndarray] = []
        for i in range(0, len(tokens), llm.n_batch):
            chunk = list(tokens[i : i + llm.n_batch])
            llm._batch.set_batch(batch=chunk, n_past=llm.n_tokens, logits_all=every)
            llm._ctx.decode(llm._batch)
            llm.input_ids[llm.n_tokens : llm.n_tokens + len(chunk)] = chunk
            llm.n_tokens += len(chunk)
            rows = range(len(chunk)) if every else [len(chunk) - 1]
            out.extend(self._logits(row) for row in rows)
        return out if every else out[-1:]

    def rewind(self, n_tokens: int) -> None:
        """Forget the tokens from `n_tokens` on (a draft's refused part)."""
        self.llm._ctx.kv_cache_seq_rm(-1, n_tokens, -1)
        self.llm.n_tokens = n_tokens

    def _logits(self, row: int) -> np.ndarray:
        pointer = llama_cpp.llama_get_logits_ith(self.llm.ctx, row)
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).copy()


class Greedy:
    """Temperature 0 with no penalties: the most likely token the grammar allows."""

    def __init__(self, grammar: GrammarCheck | None) -> None:
        self.grammar = grammar

    def __call__(self, logits: np.ndarray) -> int:
        token = int(np.argmax(logits))
        if self.grammar is not None:
            if not self.grammar.allows(token):
                token = self.grammar.best(logits)
            self.grammar.accept(token)
        return token

    def close(self) -> None:
        if self.grammar is not None:
            self.grammar.close()


class Chain:
    """Any other sampling: llama's own sampler chain (penalties, grammar, top-k, top-p, min-p,
    temperature, seeded draw) run over the logits given."""

    def __init__(self, sampler: Any, n_vocab: int) -> None:
        self._sampler = sampler
        self._data = (llama_cpp.llama_token_data * n_vocab)()
        self._view = np.frombuffer(self._data, dtype=_TOKEN_DATA)
        self._ids = np.arange(n_vocab, dtype=np.intc)

    def __call__(self, logits: np.ndarray) -> int:
        self._view["id"] = self._ids
        self._view["logit"] = logits
        self._view["p"] = 0.0
        array = llama_cpp.llama_token_data_array(
            data=self._data, size=len(logits), selected=-1, sorted=False
        )
        llama_cpp.llama_sampler_apply(self._sampler.sampler, ctypes.byref(array))
        token = int(self._data[array.selected].id)
        self._sampler.accept(token)
        return token

    def close(self) -> None:
        self._sampler.close()


def tokens_from(
    decoder: Decoder,
    pending: Sequence[int],
    choose: Greedy | Chain,
    drafter: Drafter | None,
    generated: list[int],
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield each token chosen with the logits it was chosen from, until the caller stops.

    `pending` is what the cache has yet to read; `generated` is the caller's list of the
    tokens taken so far, which drafts continue. Each step reads the last chosen token with a
    draft behind it in one batch, keeps the draft's tokens while they are what `choose`
    picks, and rewinds the cache past the first one that is not."""
    logits = decoder.feed(pending, every=False)[-1]
    token = choose(logits)
    while True:
        yield token, logits
        draft = drafter.propose(generated) if drafter is not None else []
        base = decoder.llm.n_tokens
        rows = decoder.feed([token, *draft], every=bool(draft))
        for index, expected in enumerate(draft):
            chosen = choose(rows[index])
            if chosen != expected:
                decoder.rewind(base + 1 + index)
                token, logits = chosen, rows[index]
                break
            yield chosen, rows[index]
        else:
            logits = rows[len(draft)]
            token = choose(logits)
