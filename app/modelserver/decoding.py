"""The token loop, with the grammar checked only when the model strays.

llama-cpp-python's own loop (Llama.generate) runs the grammar over the whole vocabulary
(152k tokens for Qwen) at every step, which here cost about as much as the step itself
(36 of 94 ms a token, measured on 2 cores). At temperature 0 that is not needed for the same
answer: the grammar only masks the tokens it refuses, so when it allows the most likely token,
that token is the answer's next one; when it refuses it, the next likeliest are asked about in
turn, and only when none of them will do is the grammar applied to every token. Tokens are
read one at a time, as llama reads them, so the answer is the same byte for byte
(tests/test_decoding.py).

Drafts were tried and left out: proposing the schema's fixed text (`", "category": "`), the
rest of an enum value or runs of the prompt, and checking them in one batch. On these 2 cores
a batch of k tokens costs about 60 + 40k ms against 60 ms a token alone, so a draft pays only
when two thirds of it is kept: the schema's text saved nothing measurable and runs of the
prompt lost 24%; and a token read in a batch gets logits that differ in their last digits,
which changed an answer now and then.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator, Sequence
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp import Llama, LlamaGrammar

CANDIDATES = 32  # tokens asked about one by one before the grammar sees the vocabulary
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
        """The most likely token of those the grammar allows (the lowest id among equals, as
        np.argmax gives). The likeliest CANDIDATES are asked about one by one first: a
        refused token mostly has an allowed one close behind it (`"` for `\"`, a space
        less), and each question costs microseconds where the whole vocabulary costs about
        20 ms. A candidate counts only when its logit beats every token not asked about."""
        if len(logits) > CANDIDATES:
            asked = np.argpartition(-logits, CANDIDATES)[: CANDIDATES + 1]
            asked = asked[np.lexsort((asked, -logits[asked]))]
            bar = logits[asked[-1]]  # the likeliest of the rest
            for token in asked[:-1]:
                if logits[token] <= bar:
                    break
                if self.allows(int(token)):
                    return int(token)
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


def common_prefix(a: np.ndarray, b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    if n == 0:
        return 0
    differ = np.flatnonzero(a[:n] != np.asarray(b[:n], dtype=a.dtype))
    return int(differ[0]) if len(differ) else n


class Decoder:
    """Feeds tokens to llama and reads the logits after them, keeping Llama's record of what
    its cache holds (input_ids, n_tokens) true, so that the next prompt reuses its common
    start."""

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

    def feed(self, tokens: Sequence[int]) -> np.ndarray:
        """Evaluate `tokens` after the cache; the logits after the last of them."""
        llm = self.llm
        for i in range(0, len(tokens), llm.n_batch):
            chunk = list(tokens[i : i + llm.n_batch])
            llm._batch.set_batch(batch=chunk, n_past=llm.n_tokens, logits_all=False)
            llm._ctx.decode(llm._batch)
            llm.input_ids[llm.n_tokens : llm.n_tokens + len(chunk)] = chunk
            llm.n_tokens += len(chunk)
        return self._logits(len(chunk) - 1)

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
    decoder: Decoder, pending: Sequence[int], choose: Greedy | Chain
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield each token chosen with the logits it was chosen from, until the caller stops.
    `pending` is what the cache has yet to read of the prompt."""
    logits = decoder.feed(pending)
    while True:
        token = choose(logits)
        yield token, logits
        logits = decoder.feed([token])
