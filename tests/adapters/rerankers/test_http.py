"""HttpReranker against a real ``/rerank`` server on the same local cross-encoder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import SecretStr

from ragplatform.adapters.http_retry import RetryPolicy
from ragplatform.adapters.rerankers.cross_encoder import CrossEncoderReranker
from ragplatform.adapters.rerankers.factory import build_reranker
from ragplatform.adapters.rerankers.http import HttpReranker, parse_scores
from ragplatform.answer_settings import RerankSettings
from ragplatform.errors import StartupError, Unavailable
from tests.adapters.llms.server import closed_port
from tests.rerank_fixtures import RerankServer

FAST = RetryPolicy(backoff_s=0.001, max_backoff_s=0.01, max_retry_after_s=0.3)
QUERY = "how does the heart pump blood"
TEXTS = [
    "The heart pumps blood through the arteries to every organ.",
    "Stars fuse hydrogen into helium in their cores.",
    "Taxes are due in April for most residents.",
    "Cardiac muscle contracts rhythmically to move blood.",
    "Otters hold hands while sleeping.",
]


def make(base_url: str, **overrides: Any) -> HttpReranker:
    values: dict[str, Any] = {
        "provider": "http",
        "base_url": base_url,
        "timeout_s": 2.0,
        "max_retries": 2,
    }
    values.update(overrides)
    return HttpReranker(settings=RerankSettings(**values), retry=FAST)


async def local_scores(model: Any, path: Path) -> list[float]:
    reranker = CrossEncoderReranker(
        model=model, settings=RerankSettings(provider="local", model_path=path)
    )
    return await reranker.rerank(QUERY, TEXTS)


async def test_tei_shape_gives_the_local_adapters_scores(
    rerank_server: RerankServer, cross_encoder: Any, cross_encoder_dir: Path
) -> None:
    reranker = make(rerank_server.base_url)
    scores = await reranker.rerank(QUERY, TEXTS)  # the server answers best first, not in order
    np.testing.assert_allclose(
        scores, await local_scores(cross_encoder, cross_encoder_dir), atol=1e-5
    )
    request = rerank_server.state.requests[0]
    assert request["path"] == "/rerank"
    assert {k: request[k] for k in ("query", "texts", "truncate")} == {
        "query": QUERY,
        "texts": TEXTS,
        "truncate": True,
    }
    assert "authorization" not in request["headers"]
    await reranker.close()


async def test_results_shape_gives_the_local_adapters_scores(
    rerank_server: RerankServer, cross_encoder: Any, cross_encoder_dir: Path
) -> None:
    reranker = make(
        rerank_server.base_url + "/v1/",
        protocol="cohere",
        model="rerank-test",
        api_key=SecretStr("sk-secret"),
    )
    scores = await reranker.rerank(QUERY, TEXTS)
    np.testing.assert_allclose(
        scores, await local_scores(cross_encoder, cross_encoder_dir), atol=1e-5
    )
    request = rerank_server.state.requests[0]
    assert request["path"] == "/v1/rerank"
    assert request["documents"] == TEXTS and request["top_n"] == len(TEXTS)
    assert request["model"] == "rerank-test" and "texts" not in request
    assert request["headers"]["authorization"] == "Bearer sk-secret"
    assert reranker.name == "rerank-test"
    await reranker.close()


async def test_batches_of_batch_size_keep_the_order(
    rerank_server: RerankServer, cross_encoder: Any, cross_encoder_dir: Path
) -> None:
    reranker = make(rerank_server.base_url, batch_size=2)
    scores = await reranker.rerank(QUERY, TEXTS)
    sent = sorted(tuple(r["texts"]) for r in rerank_server.state.requests)
    assert sent == sorted([tuple(TEXTS[0:2]), tuple(TEXTS[2:4]), tuple(TEXTS[4:5])])
    np.testing.assert_allclose(
        scores, await local_scores(cross_encoder, cross_encoder_dir), atol=1e-5
    )
    await reranker.close()


async def test_cohere_protocol_without_a_model_sends_none(rerank_server: RerankServer) -> None:
    reranker = make(rerank_server.base_url + "/v1", protocol="cohere")
    assert len(await reranker.rerank(QUERY, TEXTS[:2])) == 2
    assert "model" not in rerank_server.state.requests[0]
    await reranker.close()


async def test_empty_input_sends_nothing(rerank_server: RerankServer) -> None:
    reranker = make(rerank_server.base_url)
    assert await reranker.rerank(QUERY, []) == []
    assert rerank_server.state.requests == []
    await reranker.close()


@pytest.mark.parametrize("status", [429, 503])
async def test_transient_statuses_are_retried(rerank_server: RerankServer, status: int) -> None:
    rerank_server.state.fail_times = 2
    rerank_server.state.fail_status = status
    reranker = make(rerank_server.base_url)
    assert len(await reranker.rerank(QUERY, TEXTS)) == len(TEXTS)
    assert reranker.retries == 2 and len(rerank_server.state.requests) == 3
    await reranker.close()


async def test_retries_run_out_with_retry_after(rerank_server: RerankServer) -> None:
    rerank_server.state.fail_times = 10
    rerank_server.state.fail_status = 429
    rerank_server.state.retry_after = "7"
    reranker = make(rerank_server.base_url, max_retries=1)
    with pytest.raises(Unavailable, match=r"unavailable \(HTTP 429\)") as error:
        await reranker.rerank(QUERY, TEXTS)
    assert error.value.code == "rerank_unavailable" and error.value.retry_after == 7
    assert len(rerank_server.state.requests) == 2
    await reranker.close()


async def test_timeouts_are_retried_then_unavailable(rerank_server: RerankServer) -> None:
    rerank_server.state.delay_s = 0.5
    reranker = make(rerank_server.base_url, timeout_s=0.1, max_retries=1)
    with pytest.raises(Unavailable, match="ReadTimeout") as error:
        await reranker.rerank(QUERY, TEXTS)
    assert error.value.code == "rerank_unavailable" and reranker.retries == 1
    await reranker.close()


async def test_401_is_a_clear_configuration_error(rerank_server: RerankServer) -> None:
    rerank_server.state.fail_times = 1
    rerank_server.state.fail_status = 401
    rerank_server.state.fail_message = "invalid key sk-wrong"
    reranker = make(rerank_server.base_url, api_key=SecretStr("sk-wrong"))
    with pytest.raises(Unavailable) as error:
        await reranker.rerank(QUERY, TEXTS)
    detail = error.value.detail
    assert error.value.code == "rerank_misconfigured"
    assert "HTTP 401" in detail and "RAG_RERANK__API_KEY" in detail
    assert "sk-wrong" not in detail and "***" in detail
    assert reranker.retries == 0
    await reranker.close()


async def test_one_failed_batch_fails_the_query(
    rerank_server: RerankServer,
) -> None:
    rerank_server.state.fail_times = 1
    rerank_server.state.fail_status = 401
    rerank_server.state.delay_s = 0.2  # the healthy batches are still in flight
    reranker = make(rerank_server.base_url, batch_size=2, max_concurrency=3)
    with pytest.raises(Unavailable) as error:
        await reranker.rerank(QUERY, TEXTS)
    assert error.value.code == "rerank_misconfigured"
    assert len(rerank_server.state.requests) == 3 and reranker.retries == 0
    await reranker.close()


async def test_other_client_errors_are_not_retried(rerank_server: RerankServer) -> None:
    rerank_server.state.fail_times = 1
    rerank_server.state.fail_status = 413
    rerank_server.state.fail_message = "batch size 64 > maximum allowed batch size 32"
    reranker = make(rerank_server.base_url)
    with pytest.raises(Unavailable, match="RAG_RERANK__BATCH_SIZE") as error:
        await reranker.rerank(QUERY, TEXTS)
    assert error.value.code == "rerank_rejected" and "maximum allowed" in error.value.detail
    assert len(rerank_server.state.requests) == 1
    await reranker.close()


@pytest.mark.parametrize(
    "override",
    [
        "<html>proxy error</html>",
        {"data": []},
        [{"index": 0, "score": 0.5}],
        [{"index": i, "score": "high"} for i in range(5)],
    ],
)
async def test_unexpected_responses_are_unavailable(
    rerank_server: RerankServer, override: Any
) -> None:
    rerank_server.state.override = override
    reranker = make(rerank_server.base_url)
    with pytest.raises(Unavailable, match="unexpected response") as error:
        await reranker.rerank(QUERY, TEXTS)
    assert error.value.code == "rerank_bad_response"
    await reranker.close()


async def test_connection_refused_is_unavailable() -> None:
    reranker = make(f"http://127.0.0.1:{closed_port()}", max_retries=1)
    with pytest.raises(Unavailable, match="ConnectError"):
        await reranker.rerank(QUERY, TEXTS)
    assert reranker.retries == 1
    await reranker.close()


async def test_ping(rerank_server: RerankServer) -> None:
    reranker = make(rerank_server.base_url)
    await reranker.ping()
    assert rerank_server.state.requests[0]["texts"] == ["ping"]
    rerank_server.state.fail_times = 5
    with pytest.raises(Unavailable):
        await reranker.ping()
    assert len(rerank_server.state.requests) == 2  # no retries
    await reranker.close()
    with pytest.raises(Unavailable, match="closed"):
        await reranker.ping()
    with pytest.raises(Unavailable, match="closed"):
        await reranker.rerank(QUERY, TEXTS)


async def test_factory_builds_the_http_client(rerank_server: RerankServer) -> None:
    reranker = await build_reranker(
        RerankSettings(provider="http", base_url=rerank_server.base_url)
    )
    assert isinstance(reranker, HttpReranker)
    host = rerank_server.base_url.removeprefix("http://")
    assert reranker.name == f"rerank@{host}"
    await reranker.close()


def test_base_url_is_required() -> None:
    settings = RerankSettings.model_construct(provider="http", base_url=None)
    with pytest.raises(StartupError, match="RAG_RERANK__BASE_URL"):
        HttpReranker(settings=settings)


def test_settings_validation() -> None:
    with pytest.raises(ValueError, match="RAG_RERANK__BASE_URL"):
        RerankSettings(provider="http")
    with pytest.raises(ValueError, match="RAG_RERANK__MODEL_PATH"):
        RerankSettings(provider="local")


def test_parse_scores_reorders_by_index() -> None:
    tei = [{"index": 2, "score": 0.9}, {"index": 0, "score": 0.5}, {"index": 1, "score": -1}]
    assert parse_scores(tei, 3) == [0.5, -1.0, 0.9]
    results = {
        "results": [{"index": 1, "relevance_score": 0.2}, {"index": 0, "relevance_score": 1}]
    }
    assert parse_scores(results, 2) == [1.0, 0.2]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"results": "x"}, "neither a list"),
        (["x"], "not an object"),
        ([{"index": 0, "score": 1}, {"index": 0, "score": 2}], "repeated index"),
        ([{"index": 5, "score": 1}, {"index": 1, "score": 2}], "bad or repeated index"),
        ([{"index": True, "score": 1}, {"index": 1, "score": 2}], "bad or repeated index"),
        ([{"index": 0, "score": True}, {"index": 1, "score": 2}], "not a number"),
        ([{"index": 0, "score": float("nan")}, {"index": 1, "score": 2}], "not finite"),
        ([{"index": 0, "score": 1}], "some inputs have no score"),
    ],
)
def test_parse_scores_rejects_malformed_bodies(body: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_scores(body, 2)
