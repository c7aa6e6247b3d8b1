"""Embedders through the real openai and google-genai SDKs against the scripted servers."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from typing import Any

import pytest

from moco.config import resolve_provider
from moco.errors import ConfigError, ProviderError
from moco.providers.base import RetryPolicy
from moco.providers.embeddings import (
    Embedder,
    GeminiEmbedder,
    OpenAIEmbedder,
    SDKEmbedder,
    resolve_embedder,
)
from moco.testing import Reply, ScriptedGeminiServer, ScriptedOpenAIServer
from moco.testing.embeddings import fake_embedding, stem

FAST = RetryPolicy(max_retries=2, base_delay=0.001, max_delay=0.01)
FACT = "Ask Tanaka-san about expense reports."
QUESTION = "Who should I ask about expense reports?"
OTHER = "The build uses a Makefile with lint and test targets."


def dot(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def openai_embedder(server: ScriptedOpenAIServer, model: str = "text-embedding-3-small"
                    ) -> OpenAIEmbedder:
    return OpenAIEmbedder(provider="openai", model=model, api_key="sk-test",
                          base_url=server.base_url, key_var="OPENAI_API_KEY", retry=FAST)


def gemini_embedder(server: ScriptedGeminiServer) -> GeminiEmbedder:
    return GeminiEmbedder(provider="gemini", model="gemini-embedding-001", api_key="g-test",
                          base_url=server.base_url, key_var="GEMINI_API_KEY", retry=FAST)


# -- the deterministic vectors -------------------------------------------------------------------
def test_fake_embedding_is_normalised_and_related_texts_are_closer() -> None:
    fact, question, other = (fake_embedding(t) for t in (FACT, QUESTION, OTHER))
    assert len(fact) == 64
    assert dot(fact, fact) == pytest.approx(1.0)
    assert dot(fact, question) > 0.4 > dot(fact, other)
    assert fake_embedding("Expense REPORTS") == fake_embedding("expense report")
    assert stem("reports") == "report" and stem("asked") == "ask" and stem("queries") == "query"
    assert fake_embedding("", dim=8) == [1.0] + [0.0] * 7
    assert len(fake_embedding(FACT, dim=3072)) == 3072


def test_fake_embedding_is_the_same_in_every_process() -> None:
    code = ("import json; from moco.testing.embeddings import fake_embedding; "
            f"print(json.dumps(fake_embedding({FACT!r})))")
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert json.loads(outputs.pop()) == fake_embedding(FACT)


# -- OpenAI and compatible servers ---------------------------------------------------------------
async def test_openai_embedder_gets_the_deterministic_vectors(
    scripted_openai: ScriptedOpenAIServer,
) -> None:
    embedder = openai_embedder(scripted_openai)
    assert isinstance(embedder, Embedder)
    assert embedder.name == "openai/text-embedding-3-small"
    vectors = await embedder.embed([FACT, QUESTION, OTHER])
    await embedder.aclose()
    assert [len(v) for v in vectors] == [64, 64, 64]
    assert vectors[0] == pytest.approx(fake_embedding(FACT), abs=1e-6)  # float32 on the wire
    assert dot(vectors[0], vectors[1]) > dot(vectors[0], vectors[2])
    (request,) = scripted_openai.embedding_requests
    assert request.path == "/v1/embeddings"
    assert request.body["input"] == [FACT, QUESTION, OTHER]
    assert request.body["model"] == "text-embedding-3-small"
    assert request.body["encoding_format"] == "base64"  # the SDK's default
    assert request.headers["authorization"] == "Bearer sk-test"
    assert scripted_openai.requests == []  # the chat script is not touched


async def test_openai_server_answers_floats_and_requested_dimensions(
    scripted_openai: ScriptedOpenAIServer,
) -> None:
    import openai

    client = openai.AsyncOpenAI(api_key="sk", base_url=scripted_openai.base_url, max_retries=0)
    response = await client.embeddings.create(model="m", input="hello world",
                                              encoding_format="float", dimensions=16)
    await client.close()
    assert response.data[0].embedding == fake_embedding("hello world", 16)
    assert response.usage.prompt_tokens == 2
    scripted_openai.embedding_dim = 24
    embedder = openai_embedder(scripted_openai)
    assert len((await embedder.embed(["x"]))[0]) == 24
    await embedder.aclose()


async def test_embedding_requests_do_not_consume_the_chat_script(
    scripted_openai: ScriptedOpenAIServer,
) -> None:
    from moco.core.messages import Message
    from moco.providers.base import ModelRequest
    from moco.providers.openai_compat import OpenAICompatProvider

    scripted_openai.add(Reply.say("the chat answer"))
    embedder = openai_embedder(scripted_openai)
    await embedder.embed(["first"])
    chat = OpenAICompatProvider(api_key="sk", base_url=scripted_openai.base_url, retry=FAST)
    response = await chat.complete(ModelRequest(model="gpt-4o", messages=[Message.user("hi")]))
    await embedder.embed(["second"])
    await chat.aclose()
    await embedder.aclose()
    assert response.message.text == "the chat answer"
    assert len(scripted_openai.requests) == 1 and len(scripted_openai.embedding_requests) == 2
    scripted_openai.assert_complete()


async def test_large_inputs_go_in_batches_of_96_in_order(
    scripted_openai: ScriptedOpenAIServer,
) -> None:
    texts = [f"memory number {i} about topic {i % 7}" for i in range(200)]
    embedder = openai_embedder(scripted_openai)
    vectors = await embedder.embed(texts)
    await embedder.aclose()
    assert [len(r.body["input"]) for r in scripted_openai.embedding_requests] == [96, 96, 8]
    assert vectors[150] == pytest.approx(fake_embedding(texts[150]), abs=1e-6)


async def test_openai_errors_are_provider_errors_and_transient_ones_are_retried(
    scripted_openai: ScriptedOpenAIServer,
) -> None:
    embedder = openai_embedder(scripted_openai)
    scripted_openai.add_embedding(Reply.error(429, "slow down", headers={"retry-after": "0"}),
                                  Reply.error(503, "busy"))
    assert len(await embedder.embed(["retried"])) == 1
    assert len(scripted_openai.embedding_requests) == 3
    scripted_openai.add_embedding(Reply.error(401, "bad key"))
    with pytest.raises(ProviderError, match="OPENAI_API_KEY was rejected") as caught:
        await embedder.embed(["x"])
    assert not caught.value.retryable and caught.value.status == 401
    scripted_openai.add_embedding(Reply.error(404, "no such model"))
    with pytest.raises(ProviderError, match="404: no such model"):
        await embedder.embed(["x"])
    scripted_openai.add_embedding(*[Reply.error(500, "down")] * 3)
    with pytest.raises(ProviderError, match="server error") as caught:
        await embedder.embed(["x"])
    assert caught.value.retryable
    await embedder.aclose()


async def test_unreachable_server_is_a_connection_error() -> None:
    embedder = OpenAIEmbedder(provider="ollama", model="nomic-embed-text", api_key=None,
                              base_url="http://127.0.0.1:9/v1", retry=FAST, timeout=2)
    with pytest.raises(ProviderError, match=r"could not reach ollama at http://127\.0\.0\.1:9/v1"):
        await embedder.embed(["x"])
    await embedder.aclose()


# -- Gemini --------------------------------------------------------------------------------------
async def test_gemini_embedder_uses_batch_embed_contents(
    scripted_gemini: ScriptedGeminiServer,
) -> None:
    embedder = gemini_embedder(scripted_gemini)
    vectors = await embedder.embed([FACT, QUESTION])
    await embedder.aclose()
    assert vectors[0] == pytest.approx(fake_embedding(FACT))
    (request,) = scripted_gemini.embedding_requests
    assert request.path.endswith("/models/gemini-embedding-001:batchEmbedContents")
    assert request.headers["x-goog-api-key"] == "g-test"
    assert [r["content"]["parts"][0]["text"] for r in request.body["requests"]] == [FACT, QUESTION]
    assert scripted_gemini.requests == []


async def test_gemini_errors_are_provider_errors(scripted_gemini: ScriptedGeminiServer) -> None:
    embedder = gemini_embedder(scripted_gemini)
    scripted_gemini.add_embedding(Reply.error(503, "overloaded"))
    assert len(await embedder.embed(["retried"])) == 1
    scripted_gemini.add_embedding(Reply.error(400, "API key not valid. Please pass a valid key."))
    with pytest.raises(ProviderError, match="GEMINI_API_KEY was rejected"):
        await embedder.embed(["x"])
    await embedder.aclose()


def test_gemini_server_answers_single_embed_content(scripted_gemini: ScriptedGeminiServer) -> None:
    body = {"content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 8}
    request = urllib.request.Request(
        f"{scripted_gemini.url}/v1beta/models/gemini-embedding-001:embedContent",
        data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        answer: dict[str, Any] = json.load(response)
    assert answer == {"embedding": {"values": fake_embedding("hello", 8)}}
    assert len(scripted_gemini.embedding_requests) == 1


# -- choosing the embedder ------------------------------------------------------------------------
def _resolved(env: dict[str, str], chat: Any = None) -> SDKEmbedder | None:
    embedder = resolve_embedder(env, chat)
    assert embedder is None or isinstance(embedder, SDKEmbedder)
    return embedder


def test_the_chat_provider_chooses_its_embedding_model() -> None:
    openai_one = _resolved({"OPENAI_API_KEY": "sk-1", "OPENAI_BASE_URL": "http://127.0.0.1:1/v1"})
    assert isinstance(openai_one, OpenAIEmbedder)
    assert (openai_one.name, openai_one.api_key) == ("openai/text-embedding-3-small", "sk-1")
    assert openai_one.base_url == "http://127.0.0.1:1/v1"
    gemini_one = _resolved({"GEMINI_API_KEY": "g"})
    assert isinstance(gemini_one, GeminiEmbedder)
    assert gemini_one.name == "gemini/gemini-embedding-001"
    zai = _resolved({"ZAI_API_KEY": "z"})
    assert zai is not None and zai.name == "zai/embedding-3"
    assert zai.base_url == "https://api.z.ai/api/paas/v4"


def test_no_embedder_without_a_provider_that_has_one() -> None:
    assert resolve_embedder({}) is None
    assert resolve_embedder({"ANTHROPIC_API_KEY": "a"}) is None
    assert resolve_embedder({"OPENROUTER_API_KEY": "o"}) is None
    assert resolve_embedder({"OPENAI_API_KEY": "sk", "MOCO_EMBEDDING_MODEL": "none"}) is None
    chat = resolve_provider("anthropic", env={"ANTHROPIC_API_KEY": "a"})
    assert resolve_embedder({"OPENAI_API_KEY": "sk"}, chat) is None


def test_moco_embedding_model_names_provider_and_model() -> None:
    ollama = _resolved({"MOCO_EMBEDDING_MODEL": "ollama/nomic-embed-text"})
    assert isinstance(ollama, OpenAIEmbedder) and ollama.name == "ollama/nomic-embed-text"
    assert ollama.base_url == "http://localhost:11434/v1"
    env = {"MOCO_EMBEDDING_MODEL": "gemini", "GENAI_API_KEY": "g", "OPENAI_API_KEY": "sk"}
    gemini_default = _resolved(env)
    assert gemini_default is not None and gemini_default.name == "gemini/gemini-embedding-001"
    chat = resolve_provider("openai", base_url="http://127.0.0.1:5/v1", env={"OPENAI_API_KEY": "c"})
    custom = _resolved({"MOCO_EMBEDDING_MODEL": "openai/text-embedding-3-large"}, chat)
    assert custom is not None and custom.base_url == "http://127.0.0.1:5/v1"
    assert (custom.name, custom.api_key) == ("openai/text-embedding-3-large", "c")


@pytest.mark.parametrize(("spec", "message"), [
    ("nosuch/model", "unknown provider 'nosuch'"),
    ("anthropic/claude", "anthropic has no embeddings API"),
    ("ollama", "names no model"),
    ("openai/text-embedding-3-small", "MOCO_EMBEDDING_MODEL=openai/text-embedding-3-small: "
                                      "OPENAI_API_KEY is not set"),
])
def test_a_wrong_embedding_model_is_one_line_of_advice(spec: str, message: str) -> None:
    env = {"MOCO_EMBEDDING_MODEL": spec, "ANTHROPIC_API_KEY": "a"}
    with pytest.raises(ConfigError, match=message) as caught:
        resolve_embedder(env)
    assert "\n" not in str(caught.value)


def test_importing_the_module_loads_no_sdk() -> None:
    code = ("import sys, moco.providers.embeddings as e; "
            "e.resolve_embedder({'OPENAI_API_KEY': 'x'}); "
            "print(any(m in sys.modules for m in ('openai', 'google.genai')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
