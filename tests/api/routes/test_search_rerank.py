"""Search and answers with a re-ranker configured (local and HTTP), and without one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ragplatform.adapters.rerankers.cross_encoder import CrossEncoderReranker
from ragplatform.answer_settings import RerankSettings
from ragplatform.errors import StartupError
from ragplatform.main import _fingerprint, create_app
from ragplatform.retrieval.cache import cache_key
from ragplatform.retrieval.rerank import passage_text
from ragplatform.retrieval.scope import CollectionRef
from ragplatform.settings import Settings
from tests.conftest import platform_settings
from tests.documents_support import create_collection, wait_for
from tests.platform import Api, bearer, make_tenant
from tests.rerank_fixtures import RerankServer

QUERY = "Can employees work from home?"
DOCS = [
    ("Remote work", "Employees may work from home up to three days per week."),
    ("Printers", "The printer on floor two jams when loaded with glossy paper."),
    ("Cafeteria", "The cafeteria serves vegetarian lunch options every weekday."),
    ("Security", "Badges must be worn visibly at all times inside the building."),
    ("Travel", "Travel expenses are reimbursed within thirty days of a claim."),
]


def _api(settings: Settings, **rerank: Any) -> Iterator[Api]:
    overrides = {"rerank": rerank} if rerank else {}
    app = create_app(platform_settings(settings, **overrides))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client)


@pytest.fixture
def local_api(migrated: Settings, cross_encoder_dir: Path) -> Iterator[Api]:
    yield from _api(migrated, provider="local", model_path=str(cross_encoder_dir), depth=50)


@pytest.fixture
def http_api(migrated: Settings, rerank_server: RerankServer) -> Iterator[Api]:
    yield from _api(migrated, provider="http", base_url=rerank_server.base_url, batch_size=2)


@pytest.fixture
def plain_api(migrated: Settings) -> Iterator[Api]:
    yield from _api(migrated)


def _indexed(api: Api) -> str:
    token = make_tenant(api, "acme").owner_key
    collection = create_collection(api.client, token, "handbook")
    for title, text in DOCS:
        response = api.client.post(
            f"/api/v1/collections/{collection}/documents",
            json={"title": title, "text": text},
            headers=bearer(token),
        )
        assert response.status_code == 202, response.text
        assert wait_for(api.client, token, response.json()["documents"][0]["id"])["status"] == (
            "ready"
        )
    return token


def _search(api: Api, token: str, **body: Any) -> dict[str, Any]:
    response = api.client.post("/api/v1/search", json=body, headers=bearer(token))
    assert response.status_code == 200, response.text
    return dict(response.json())


def _expected(model: Any, hits: list[dict[str, Any]]) -> np.ndarray:
    read = [passage_text(h, with_title=True) for h in hits]
    return np.asarray(model.predict([(QUERY, t) for t in read], show_progress_bar=False))


def _stage_count(api: Api, stage: str) -> float:
    metrics = api.client.get("/metrics").text
    found = re.search(
        rf'ragplatform_stage_duration_seconds_count{{stage="{stage}"}} (\S+)', metrics
    )
    return float(found.group(1)) if found else 0.0


def test_search_returns_the_reranked_order(local_api: Api, cross_encoder: Any) -> None:
    token = _indexed(local_api)
    everything = _search(local_api, token, query=QUERY, top_k=10)["hits"]
    assert len(everything) == len(DOCS)
    scores = [h["score"] for h in everything]
    np.testing.assert_allclose(scores, _expected(cross_encoder, everything), atol=1e-5)
    assert scores == sorted(scores, reverse=True)
    best_two = _search(local_api, token, query=QUERY, top_k=2)
    assert [h["chunk_id"] for h in best_two["hits"]] == [h["chunk_id"] for h in everything[:2]]
    for mode in ("dense", "keyword"):  # every mode is re-ranked the same way
        ranked = _search(local_api, token, query=QUERY, top_k=10, mode=mode)["hits"]
        np.testing.assert_allclose(
            [h["score"] for h in ranked], _expected(cross_encoder, ranked), atol=1e-5
        )
    threshold = (scores[0] + scores[1]) / 2
    kept = _search(local_api, token, query=QUERY, top_k=10, score_threshold=threshold)["hits"]
    assert [h["chunk_id"] for h in kept] == [everything[0]["chunk_id"]]
    again = _search(local_api, token, query=QUERY, top_k=10)
    assert again["cached"] is True and again["hits"] == everything
    assert _stage_count(local_api, "rerank") == 5  # the cached search ran no model


def test_answers_use_the_reranked_passages(local_api: Api) -> None:
    token = _indexed(local_api)
    ranked = _search(local_api, token, query=QUERY, top_k=3)["hits"]
    response = local_api.client.post(
        "/api/v1/ask", json={"question": QUERY, "top_k": 3}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    cited = [c["chunk_id"] for c in response.json()["citations"]]
    assert cited and cited == [h["chunk_id"] for h in ranked][: len(cited)]
    assert _stage_count(local_api, "rerank") == 2


def test_readiness_includes_the_reranker(local_api: Api, cross_encoder_dir: Path) -> None:
    body = local_api.ok(local_api.client.get("/readyz"))
    assert body["checks"]["reranker"]["status"] == "ok"
    assert body["checks"]["reranker"]["model"] == cross_encoder_dir.name


def test_http_reranker_gives_the_same_scores(
    http_api: Api, rerank_server: RerankServer, cross_encoder: Any
) -> None:
    token = _indexed(http_api)
    hits = _search(http_api, token, query=QUERY, top_k=10)["hits"]
    np.testing.assert_allclose(
        [h["score"] for h in hits], _expected(cross_encoder, hits), atol=1e-5
    )
    posted = [r for r in rerank_server.state.requests if r["query"] == QUERY]
    assert sorted(len(r["texts"]) for r in posted) == [1, 2, 2]  # batch_size 2
    assert http_api.ok(http_api.client.get("/readyz"))["checks"]["reranker"]["status"] == "ok"


def test_a_failing_reranker_is_a_503(http_api: Api, rerank_server: RerankServer) -> None:
    token = _indexed(http_api)
    rerank_server.state.fail_times = 100
    rerank_server.state.fail_status = 401
    response = http_api.client.post("/api/v1/search", json={"query": QUERY}, headers=bearer(token))
    assert response.status_code == 503
    assert response.json()["code"] == "rerank_misconfigured"
    ready = http_api.client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["reranker"]["status"] == "failed"


def test_a_bad_model_path_stops_the_start(migrated: Settings, tmp_path: Path) -> None:
    settings = platform_settings(migrated, rerank={"provider": "local", "model_path": tmp_path})
    with (
        pytest.raises(StartupError, match="RAG_RERANK__MODEL_PATH"),
        TestClient(create_app(settings)),
    ):
        pass  # pragma: no cover - the start fails


def test_off_by_default_leaves_search_untouched(plain_api: Api, migrated: Settings) -> None:
    assert migrated.rerank.provider == "off"  # the default
    token = _indexed(plain_api)
    hits = _search(plain_api, token, query=QUERY, top_k=10)["hits"]
    assert hits and hits[0]["title"] == "Remote work"
    assert _stage_count(plain_api, "rerank") == 0
    assert "reranker" not in plain_api.ok(plain_api.client.get("/readyz"))["checks"]


def test_the_cache_fingerprint_follows_the_reranker(
    settings: Settings, cross_encoder: Any, cross_encoder_dir: Path, tmp_path: Path
) -> None:
    def reranking(**rerank: Any) -> tuple[Settings, CrossEncoderReranker]:
        values = {"provider": "local", "model_path": cross_encoder_dir, **rerank}
        changed = settings.model_copy(update={"rerank": RerankSettings(**values)})
        return changed, CrossEncoderReranker(model=cross_encoder, settings=changed.rerank)

    off = _fingerprint(settings, "minilm", "extractive")
    assert _fingerprint(settings, "minilm", "extractive", None) == off
    on = _fingerprint(*_with(reranking()))
    variants = {
        "depth": _fingerprint(*_with(reranking(depth=10))),
        "title": _fingerprint(*_with(reranking(with_title=False))),
        "model": _fingerprint(*_with(reranking(model="other-reranker"))),
        "path": _fingerprint(*_with(reranking(model_path=tmp_path))),
    }
    assert len({off, on, *variants.values()}) == 6, variants
    assert _fingerprint(*_with(reranking(timeout_s=1.0, max_retries=0))) == on
    refs = [CollectionRef("c", "handbook", 1)]
    keys = {
        cache_key("search", tenant_id="t", collections=refs, request={"q": QUERY}, config=fp)
        for fp in (off, on, *variants.values())
    }
    assert len(keys) == 6


def _with(pair: tuple[Settings, CrossEncoderReranker]) -> tuple[Any, ...]:
    settings, reranker = pair
    return settings, "minilm", "extractive", reranker
