"""Text generation on llama.cpp: loading a model, sampling options, the token loop.

Nothing here is thread-safe; ModelHost (host.py) runs it all on its one model thread.
"""

from __future__ import annotations

import codecs
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp
import msgspec
import numpy as np
from llama_cpp import Llama, LlamaGrammar
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from llama_cpp.llama_grammar import JSON_GBNF

from ..modelfetch import ModelSpec
from .decoding import Chain, Decoder, GrammarCheck, Greedy, tokens_from
from .forced import Forced
from .prefixes import PrefixStates


class ApiError(Exception):
    """An error answered to the client as Ollama does: {"error": message} with a status.

    Defined here because most of them (bad options, a prompt too long) are found only while
    preparing a generation."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Sampling:
    """Ollama's option defaults, so a request samples as it would on a real Ollama."""

    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.9
    min_p: float = 0.0
    repeat_penalty: float = 1.1
    seed: int = -1
    num_predict: int = -1
    stop: tuple[str, ...] = ()

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> Sampling:
        """Read the options this server honours; others (num_gpu, ...) are ignored, as Ollama
        ignores what a backend cannot use."""
        known = {name: value for name, value in (options or {}).items() if name in _SAMPLING}
        try:
            return msgspec.convert(known, cls)
        except msgspec.ValidationError as exc:
            raise ApiError(400, f"invalid options: {exc}") from None


_SAMPLING = frozenset(Sampling.__dataclass_fields__)


def grammar_for(fmt: str | dict[str, Any] | None) -> LlamaGrammar | None:
    if fmt in (None, ""):
        return None
    if fmt == "json":
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
    if isinstance(fmt, dict):
        try:
            return LlamaGrammar.from_json_schema(json.dumps(fmt), verbose=False)
        except Exception as exc:
            raise ApiError(400, f"invalid format schema: {exc}") from None
    raise ApiError(400, f'invalid format {fmt!r}: use "json" or a JSON schema')


@dataclass
class Piece:
    text: str
    logprobs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Finish:
    reason: str
    load_ns: int
    prompt_eval_count: int = 0
    prompt_eval_ns: int = 0
    eval_count: int = 0
    eval_ns: int = 0
    context: list[int] = field(default_factory=list)


class StopFilter:
    """Holds back text that may be the start of a stop sequence, so a stop is never sent."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [stop for stop in stops if stop]
        self.pending: list[Piece] = []

    def feed(self, piece: Piece) -> tuple[list[Piece], bool]:
        """Return the pieces safe to send, and whether a stop sequence was reached."""
        self.pending.append(piece)
        text = "".join(p.text for p in self.pending)
        hits = [i for stop in self.stops if (i := text.find(stop)) >= 0]
        if hits:
            return self._release(min(hits), truncate=True), True
        held = max(
            (n for stop in self.stops for n in range(1, len(stop)) if text.endswith(stop[:n])),
            default=0,
        )
        return self._release(len(text) - held, truncate=False), False

    def flush(self) -> list[Piece]:
        released, self.pending = self.pending, []
        return released

    def _release(self, upto: int, truncate: bool) -> list[Piece]:
        released: list[Piece] = []
        offset = 0
        while self.pending:
            piece = self.pending[0]
            if offset + len(piece.text) > upto:
                if truncate and offset < upto:
                    released.append(Piece(piece.text[: upto - offset], piece.logprobs))
                break
            released.append(self.pending.pop(0))
            offset += len(piece.text)
        if truncate:
            self.pending = []
        return released


class LoadedModel:
    """One llama.cpp model and its chat template. Not thread-safe: the host's model thread is
    its only user, which also keeps llama's KV cache for the next request's common prefix."""

    def __init__(self, spec: ModelSpec, path: Path, n_ctx: int, n_threads: int) -> None:
        started = time.perf_counter_ns()
        self.spec = spec
        self.llm = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            verbose=False,
            logits_all=False,
        )
        self.load_ns = time.perf_counter_ns() - started
        self.decoder = Decoder(self.llm)
        self.prefixes = PrefixStates(self.llm)
        self._vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self._n_vocab = self.llm.n_vocab()
        meta = self.llm.metadata
        if "tokenizer.chat_template" not in meta:
            raise ApiError(500, f"model '{spec.name}' has no chat template")
        self._formatter = Jinja2ChatFormatter(
            template=meta["tokenizer.chat_template"],
            eos_token=self._text(self.llm.token_eos()),
            bos_token=self._text(self.llm.token_bos()),
        )

    def close(self) -> None:
        self.llm.close()

    def chat_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        prompt = self._formatter(messages=messages).prompt
        return self.llm.tokenize(prompt.encode(), add_bos=False, special=True)

    def raw_prompt(self, prompt: str) -> list[int]:
        return self.llm.tokenize(prompt.encode(), add_bos=True, special=True)

    def complete(
        self,
        tokens: list[int],
        sampling: Sampling,
        grammar: LlamaGrammar | None,
        top_logprobs: int | None,
        load_ns: int,
        forced: Forced | None = None,
    ) -> Iterator[Piece | Finish]:
        """Sample after `tokens`, yielding text as it becomes final, then one Finish.

        The cache keeps the longest common start with the previous prompt, or with a saved
        one (prefixes.py). Logprobs are read from the raw logits of each step (before
        penalties, grammar and temperature); the end of the answer that the format
        `forced` (forced.py) is written without the model."""
        llm = self.llm
        room = llm.n_ctx() - len(tokens)
        if room <= 0:
            raise ApiError(
                400, f"prompt is too long: {len(tokens)} tokens, context window is {llm.n_ctx()}"
            )
        limit = room if sampling.num_predict < 0 else min(sampling.num_predict, room)
        if limit == 0:
            yield Finish(reason="length", load_ns=load_ns, prompt_eval_count=len(tokens))
            return
        started = time.perf_counter_ns()
        self.prefixes.prepare(tokens)
        # Like Ollama, count only the prompt tokens evaluated now, not those the cache held.
        cached = self.decoder.start(tokens)
        choose = self._chooser(sampling, grammar)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = StopFilter(sampling.stop)
        generated: list[int] = []
        reason = "length"
        first: int | None = None
        steps = tokens_from(self.decoder, tokens[cached:], choose)
        answer = ""
        try:
            for token, logits in steps:
                if first is None:
                    first = time.perf_counter_ns()
                if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                    reason = "stop"
                    break
                generated.append(token)
                text = decoder.decode(llm.detokenize([token]))
                answer += text
                top = top_logprobs
                logprobs = [] if top is None else [self._logprob(logits, token, top)]
                ready, stopped = stops.feed(Piece(text, logprobs))
                yield from ready
                if stopped:
                    reason = "stop"
                    break
                if len(generated) >= limit:
                    break
                tail = self._tokens(rest) if forced and (rest := forced.tail(answer)) else []
                if tail and len(generated) + len(tail) <= limit:
                    generated.extend(tail)
                    yield from self._written(tail, decoder, stops, top_logprobs)
                    reason = "stop"
                    break
        finally:
            steps.close()
            choose.close()
        yield from stops.flush()
        first = first or time.perf_counter_ns()
        yield Finish(
            reason=reason,
            load_ns=load_ns,
            prompt_eval_count=len(tokens) - cached,
            prompt_eval_ns=first - started,
            eval_count=len(generated),
            eval_ns=time.perf_counter_ns() - first,
            context=tokens + generated,
        )

    def _chooser(self, sampling: Sampling, grammar: LlamaGrammar | None) -> Greedy | Chain:
        """Greedy when that is what the options ask for (the app's first attempt); else
        llama's sampler chain, seeded as Ollama seeds it."""
        if sampling.temperature <= 0 and sampling.repeat_penalty == 1.0:
            return Greedy(None if grammar is None else GrammarCheck(self.llm, grammar))
        self.llm.set_seed(sampling.seed if sampling.seed >= 0 else llama_cpp.LLAMA_DEFAULT_SEED)
        sampler = self.llm._init_sampler(
            temp=sampling.temperature,
            top_k=sampling.top_k,
            top_p=sampling.top_p,
            min_p=sampling.min_p,
            repeat_penalty=sampling.repeat_penalty,
            grammar=grammar,
        )
        return Chain(sampler, self._n_vocab)

    def _tokens(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode(), add_bos=False, special=False)

    def _written(
        self,
        tokens: list[int],
        decoder: codecs.IncrementalDecoder,
        stops: StopFilter,
        top: int | None,
    ) -> Iterator[Piece]:
        """The pieces of tokens the format forced, each with logprob 0 (the only token the
        format allowed there), through the stop filter."""
        for token in tokens:
            entry = self._token_logprob(token, 0.0)
            entry["top_logprobs"] = [dict(entry)] if top else []
            text = decoder.decode(self.llm.detokenize([token]))
            ready, stopped = stops.feed(Piece(text, [] if top is None else [entry]))
            yield from ready
            if stopped:
                return

    def _text(self, token: int) -> str:
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def _logprob(self, raw: np.ndarray, token: int, top: int) -> dict[str, Any]:
        """The chosen token's log-probability and the `top` likeliest, from the float32
        logits as they come (ranked on them, normalised by a float64 sum): a third of the
        time of a float64 copy of the vocabulary, with logprobs within 1e-8 of it."""
        high = float(raw.max())
        norm = high + float(np.log(np.exp(raw - high).sum(dtype=np.float64)))
        entry = self._token_logprob(token, float(raw[token]) - norm)
        best = np.argpartition(raw, -top)[-top:] if top else np.array([], dtype=int)
        best = best[np.lexsort((best, -raw[best]))]
        entry["top_logprobs"] = [self._token_logprob(int(t), float(raw[t]) - norm) for t in best]
        return entry

    def _token_logprob(self, token: int, logprob: float) -> dict[str, Any]:
        raw = self.llm.detokenize([token], special=True)
        text = raw.decode("utf-8", errors="replace")
        return {"token": text, "logprob": float(logprob), "bytes": list(raw)}
