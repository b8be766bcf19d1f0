"""OpenAIEmbedder against a real local OpenAI-compatible server backed by the MiniLM model."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import numpy as np
import pytest
from pydantic import SecretStr

from ragplatform.adapters.embedders.factory import build_embedder
from ragplatform.adapters.embedders.openai import (
    OpenAIEmbedder,
    RetryPolicy,
    approximate_tokens,
    parse_retry_after,
    upstream_message,
)
from ragplatform.errors import InvalidInput, StartupError, Unavailable
from ragplatform.settings import EmbeddingSettings
from tests.adapters.embedders.server import OpenAIServer, closed_port

FAST = RetryPolicy(backoff_s=0.001, max_backoff_s=0.01, max_retry_after_s=0.3)


class RecordingPolicy(RetryPolicy):
    """The fast policy, remembering every delay it chose."""

    def __init__(self) -> None:
        super().__init__(backoff_s=0.001, max_backoff_s=0.01, max_retry_after_s=0.3)
        object.__setattr__(self, "delays", [])

    def delay(self, attempt: int, retry_after: float | None) -> float:
        chosen = super().delay(attempt, retry_after)
        self.delays.append(chosen)  # type: ignore[attr-defined]
        return chosen


def settings_for(base_url: str, **overrides: Any) -> EmbeddingSettings:
    """OpenAI-provider settings with a small timeout and the known MiniLM dimension."""
    values: dict[str, Any] = {
        "provider": "openai",
        "base_url": base_url,
        "timeout_s": 2.0,
        "max_retries": 2,
        "dimension": 384,
    }
    values.update(overrides)
    return EmbeddingSettings(**values)


def make(server: OpenAIServer, retry: RetryPolicy = FAST, **overrides: Any) -> OpenAIEmbedder:
    """A client of the test server."""
    return OpenAIEmbedder(settings=settings_for(server.base_url, **overrides), retry=retry)


async def test_vectors_match_the_model_in_input_order(
    openai_server: OpenAIServer, minilm: Any
) -> None:
    texts = ["the heart pumps blood", "stars fuse hydrogen", "taxes are due in April"]
    embedder = make(openai_server)
    vectors = await embedder.embed_documents(texts)
    expected = minilm.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(np.array(vectors), expected, atol=1e-5)  # the server reverses
    assert all(type(v) is float for v in vectors[0])
    body = openai_server.state.requests[0]["body"]
    assert body == {"model": "all-MiniLM-L6-v2", "input": texts}
    await embedder.close()


async def test_batches_of_batch_size(openai_server: OpenAIServer, minilm: Any) -> None:
    texts = [f"document {i}" for i in range(5)]
    embedder = make(openai_server, batch_size=2)
    vectors = await embedder.embed_documents(texts)
    assert openai_server.state.inputs == [texts[0:2], texts[2:4], texts[4:5]]
    assert embedder.batches_embedded == 3
    assert embedder.texts_embedded == 5
    np.testing.assert_allclose(
        np.array(vectors), minilm.encode(texts, normalize_embeddings=True), atol=1e-5
    )
    await embedder.close()


async def test_sends_the_bearer_token_only_when_configured(openai_server: OpenAIServer) -> None:
    with_key = make(openai_server, api_key=SecretStr("sk-test-123"))
    await with_key.embed_query("one")
    without = make(openai_server)
    await without.embed_query("two")
    first, second = openai_server.state.requests
    assert first["headers"]["authorization"] == "Bearer sk-test-123"
    assert "authorization" not in second["headers"]
    await with_key.close()
    await without.close()


async def test_unnormalised_upstream_vectors_are_normalised(openai_server: OpenAIServer) -> None:
    openai_server.state.normalize = False
    vector = await make(openai_server).embed_query("Ollama does not normalise")
    assert math.isclose(math.fsum(v * v for v in vector), 1.0, rel_tol=1e-4)


async def test_cache_and_duplicates(openai_server: OpenAIServer) -> None:
    embedder = make(openai_server)
    first = await embedder.embed_documents(["a", "b", "a"])
    assert openai_server.state.inputs == [["a", "b"]]
    second = await embedder.embed_documents(["b", "c"])
    assert openai_server.state.inputs[-1] == ["c"]
    assert second[0] == first[1]
    assert len(openai_server.state.requests) == 2
    assert (embedder.cache_hits, embedder.cache_misses) == (1, 3)
    # queries and caller-sent texts bypass the shared cache (no cross-tenant timing signal)
    assert await embedder.embed_query("a") == pytest.approx(first[0], abs=1e-6)
    assert (await embedder.embed_documents(["b"], cached=False))[0] == pytest.approx(
        first[1], abs=1e-6
    )
    assert len(openai_server.state.requests) == 4
    uncached = make(openai_server, cache_size=0)
    await uncached.embed_documents(["a"])
    await uncached.embed_documents(["a"])
    assert len(openai_server.state.requests) == 6


async def test_retries_server_errors_then_succeeds(openai_server: OpenAIServer) -> None:
    openai_server.state.fail_times = 2
    embedder = make(openai_server)
    vector = await embedder.embed_query("eventually")
    assert len(vector) == 384
    assert len(openai_server.state.requests) == 3
    assert embedder.retries == 2


async def test_exhausted_retries_raise_unavailable(openai_server: OpenAIServer) -> None:
    openai_server.state.fail_times = 10
    embedder = make(openai_server, max_retries=2)
    with pytest.raises(Unavailable) as caught:
        await embedder.embed_documents(["never"])
    error = caught.value
    host = openai_server.base_url.removeprefix("http://").removesuffix("/v1")
    assert error.detail.startswith(f"the embedding service at {host} is unavailable")
    assert "HTTP 503" in error.detail
    assert error.code == "embedding_unavailable"
    assert error.retry_after == 5
    assert len(openai_server.state.requests) == 3


async def test_no_retries_when_max_retries_is_zero(openai_server: OpenAIServer) -> None:
    openai_server.state.fail_times = 10
    openai_server.state.fail_status = 502
    with pytest.raises(Unavailable):
        await make(openai_server, max_retries=0).embed_query("once")
    assert len(openai_server.state.requests) == 1


async def test_429_honours_retry_after_capped(openai_server: OpenAIServer) -> None:
    openai_server.state.fail_times = 1
    openai_server.state.fail_status = 429
    openai_server.state.retry_after = "1"
    policy = RecordingPolicy()
    vector = await make(openai_server, retry=policy).embed_query("rate limited once")
    assert len(vector) == 384
    assert policy.delays == [0.3]  # type: ignore[attr-defined]  # Retry-After 1 s, capped


async def test_exhausted_429_reports_the_upstream_retry_after(
    openai_server: OpenAIServer,
) -> None:
    openai_server.state.fail_times = 10
    openai_server.state.fail_status = 429
    openai_server.state.retry_after = "7"
    with pytest.raises(Unavailable, match="HTTP 429") as caught:
        await make(openai_server, max_retries=1).embed_query("rate limited")
    assert caught.value.retry_after == 7
    assert len(openai_server.state.requests) == 2


async def test_400_is_invalid_input_with_the_upstream_message(
    openai_server: OpenAIServer,
) -> None:
    openai_server.state.fail_times = 1
    openai_server.state.fail_status = 400
    openai_server.state.fail_message = "input is too long for key sk-secret-9 (max 512 tokens)"
    embedder = make(openai_server, api_key=SecretStr("sk-secret-9"))
    with pytest.raises(InvalidInput) as caught:
        await embedder.embed_query("too long")
    detail = caught.value.detail
    assert detail == (
        "the embedding service rejected the input (HTTP 400): "
        "input is too long for key *** (max 512 tokens)"
    )
    assert caught.value.code == "embedding_rejected"
    assert len(openai_server.state.requests) == 1


@pytest.mark.parametrize("status", [401, 404, 302])
async def test_misconfiguration_is_unavailable_not_retried(
    openai_server: OpenAIServer, status: int
) -> None:
    openai_server.state.fail_times = 1
    openai_server.state.fail_status = status
    openai_server.state.fail_message = "invalid api key"
    with pytest.raises(Unavailable, match=f"HTTP {status}: invalid api key") as caught:
        await make(openai_server).embed_query("x")
    assert caught.value.code == "embedding_misconfigured"
    assert len(openai_server.state.requests) == 1


async def test_timeouts_are_retried_then_unavailable(openai_server: OpenAIServer) -> None:
    openai_server.state.delay_s = 1.0
    embedder = make(openai_server, timeout_s=0.1, max_retries=1)
    with pytest.raises(Unavailable, match="ReadTimeout"):
        await embedder.embed_query("slow")
    assert len(openai_server.state.requests) == 2
    assert embedder.retries == 1


async def test_connection_refused_is_retried_then_unavailable() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    embedder = OpenAIEmbedder(settings=settings_for(url, max_retries=3), retry=FAST)
    with pytest.raises(Unavailable, match="ConnectError") as caught:
        await embedder.embed_query("nobody home")
    assert embedder.retries == 3
    assert caught.value.retry_after == 5
    await embedder.close()


async def test_garbage_responses_are_unavailable(openai_server: OpenAIServer) -> None:
    openai_server.state.garbage = True
    with pytest.raises(Unavailable, match="unexpected response") as caught:
        await make(openai_server).embed_query("x")
    assert caught.value.code == "embedding_bad_response"


async def test_dimension_is_probed_at_load(openai_server: OpenAIServer) -> None:
    settings = settings_for(openai_server.base_url, dimension=None)
    embedder = await build_embedder(settings)
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.dimension == 384
    assert embedder.model_name == "all-MiniLM-L6-v2"
    assert embedder.max_tokens == 512
    assert len(openai_server.state.requests) == 1
    await embedder.close()


async def test_a_configured_dimension_skips_the_probe(openai_server: OpenAIServer) -> None:
    embedder = await OpenAIEmbedder.load(settings_for(openai_server.base_url), retry=FAST)
    assert embedder.dimension == 384
    assert openai_server.state.requests == []
    await embedder.close()


async def test_a_wrong_configured_dimension_is_reported(openai_server: OpenAIServer) -> None:
    embedder = make(openai_server, dimension=768)
    with pytest.raises(Unavailable, match="384-dimensional vectors, expected 768") as caught:
        await embedder.embed_query("x")
    assert caught.value.code == "embedding_dimension_mismatch"


async def test_a_failed_probe_is_a_startup_error(openai_server: OpenAIServer) -> None:
    openai_server.state.fail_times = 1
    openai_server.state.fail_status = 422
    openai_server.state.fail_message = "model 'nope' not loaded"
    settings = settings_for(openai_server.base_url, dimension=None, model="nope")
    with pytest.raises(StartupError, match="RAG_EMBEDDING__DIMENSION is unset") as caught:
        await OpenAIEmbedder.load(settings, retry=FAST)
    assert "model 'nope' not loaded" in str(caught.value)


async def test_ping(openai_server: OpenAIServer) -> None:
    embedder = make(openai_server)
    await embedder.ping()
    assert embedder.texts_embedded == 0
    openai_server.state.fail_times = 1
    openai_server.state.fail_status = 400
    with pytest.raises(Unavailable, match="HTTP 400"):
        await embedder.ping()
    openai_server.state.fail_times = 1
    openai_server.state.fail_status = 503
    with pytest.raises(Unavailable, match="HTTP 503"):
        await embedder.ping()
    assert len(openai_server.state.requests) == 3  # the ping never retries


async def test_close_releases_the_client(openai_server: OpenAIServer) -> None:
    embedder = make(openai_server)
    await embedder.embed_query("before")
    await embedder.close()
    with pytest.raises(Unavailable, match="closed"):
        await embedder.embed_query("before")
    with pytest.raises(Unavailable, match="closed"):
        await embedder.ping()


def test_missing_base_url_is_a_startup_error() -> None:
    settings = EmbeddingSettings.model_construct(provider="openai", base_url=None)
    with pytest.raises(StartupError, match="RAG_EMBEDDING__BASE_URL"):
        OpenAIEmbedder(settings=settings)


def test_count_tokens_overestimates_the_real_tokenizer(minilm: Any) -> None:
    embedder = OpenAIEmbedder(settings=settings_for("http://embed.invalid/v1"))
    texts = [
        "",
        "Alterations of the architecture of cerebral white matter in the developing brain.",
        "Ünïcödé naïve café 東京 and mixed scripts",
        "Mitochondrial protein 42 regulates apoptosis in neurons. " * 40,
    ]
    for text in texts:
        real = len(minilm.tokenizer(text, add_special_tokens=False)["input_ids"])
        assert embedder.count_tokens(text) >= real
    assert approximate_tokens("abcdefg") == 3
    assert embedder.host == "embed.invalid"


def test_retry_policy_delays() -> None:
    policy = RetryPolicy(backoff_s=1.0, max_backoff_s=4.0, max_retry_after_s=10.0)
    for attempt in range(6):
        assert 0 <= policy.delay(attempt, None) <= min(4.0, 2**attempt)
    assert policy.delay(0, 60.0) == 10.0
    assert 3.0 <= policy.delay(5, 3.0) <= 4.0


def test_parse_retry_after() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= (parse_retry_after(later) or 0) <= 30
    naive = (datetime.now(UTC) - timedelta(hours=1)).strftime("%a, %d %b %Y %H:%M:%S")
    assert parse_retry_after(naive) == 0.0


def test_upstream_message_shapes() -> None:
    def response(status: int, **kwargs: Any) -> httpx.Response:
        return httpx.Response(status, **kwargs)

    assert upstream_message(response(400, json={"error": "plain string"})) == "plain string"
    assert upstream_message(response(422, json={"detail": "bad\n  field"})) == "bad field"
    assert upstream_message(response(400, json={"message": "msg"})) == "msg"
    assert upstream_message(response(400, text="not json")) == "not json"
    assert upstream_message(response(400, json={"error": {"code": 1}})) == '{"error":{"code":1}}'
    assert upstream_message(response(404)) == "Not Found"
    long = upstream_message(response(400, text="x" * 1000))
    assert len(long) == 300
    assert long.endswith("…")


@pytest.mark.parametrize(
    "body",
    [
        {"data": [{"index": 0, "embedding": "AAAAAA=="}]},
        {"data": [{"index": 1, "embedding": [0.1, 0.2]}]},
        {"data": [{"embedding": [0.1, 0.2]}]},
        {"data": []},
        '{"data": [{"index": 0, "embedding": [1e400, 1.0]}]}',
        {"object": "list"},
    ],
)
async def test_malformed_bodies_are_unavailable(openai_server: OpenAIServer, body: Any) -> None:
    openai_server.state.override = body
    with pytest.raises(Unavailable, match="unexpected response"):
        await make(openai_server, dimension=None).embed_query("x")


async def test_a_zero_vector_passes_through(openai_server: OpenAIServer) -> None:
    openai_server.state.override = {"data": [{"index": 0, "embedding": [0.0, 0.0]}]}
    assert await make(openai_server, dimension=None).embed_query("x") == [0.0, 0.0]
