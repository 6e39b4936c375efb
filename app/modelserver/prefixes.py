"""Saved caches of prompt starts, so prompts that take turns keep their prefix read.

llama.cpp holds one cache, and a prompt reuses only its common start with the one before.
A worker alternating a classification with its chained extraction, or two classifications,
would read each one's long instructions again for every file. Before a prompt overwrites a
cache unlike it, that cache is copied out (the sequence's KV cells, ~28 KB a token for the
1.5B model); a later prompt that shares more with a saved copy than with the live cache
gets the copy back, which takes milliseconds where reading the prefix takes seconds.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import llama_cpp
import numpy as np
from llama_cpp import Llama

from .decoding import common_prefix

KEEP = 4  # saved caches; one per kind of prompt taking turns, the oldest dropped first
MIN_GAIN = 32  # tokens: a shorter shared start is cheaper to read than to restore


@dataclass(eq=False)
class Saved:
    tokens: np.ndarray
    data: ctypes.Array[ctypes.c_uint8]


class PrefixStates:
    def __init__(self, llm: Llama) -> None:
        self.llm = llm
        self.saved: list[Saved] = []

    def prepare(self, tokens: list[int]) -> None:
        """Make the live cache the one that shares the longest start with `tokens`."""
        llm = self.llm
        live = llm.input_ids[: llm.n_tokens]
        kept = common_prefix(live, tokens)
        shared, best = max(
            ((common_prefix(s.tokens, tokens), s) for s in self.saved),
            key=lambda pair: pair[0],
            default=(0, None),
        )
        if len(live) - kept >= MIN_GAIN and kept < len(live) // 2:
            self._save(live.copy())
        if best is not None and shared - kept >= MIN_GAIN:
            self._restore(best)

    def _save(self, tokens: np.ndarray) -> None:
        """Copy the live cache out, in place of any saved one of the same kind."""
        ctx = self.llm.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        data = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, data, size, 0)
        if written == 0:
            return
        self.saved = [s for s in self.saved if common_prefix(s.tokens, tokens) < MIN_GAIN]
        self.saved = [*self.saved[-(KEEP - 1) :], Saved(tokens, data)]

    def _restore(self, saved: Saved) -> None:
        llm = self.llm
        llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        if llama_cpp.llama_state_seq_set_data(llm.ctx, saved.data, len(saved.data), 0) == 0:
            llm.n_tokens = 0
            return
        llm.input_ids[: len(saved.tokens)] = saved.tokens
        llm.n_tokens = len(saved.tokens)
        self.saved = [s for s in self.saved if s is not saved]
