"""The re-ranking stage: what the model reads, the new order, and the cache fingerprint."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragplatform.adapters.rerankers.cross_encoder import CrossEncoderReranker
from ragplatform.answer_settings import RerankSettings
from ragplatform.ports import VectorHit
from ragplatform.retrieval.rerank import Reranking, passage_text, rerank_fingerprint

QUERY = "why do otters hold hands"


def hit(text: str, title: str | None = None, score: float = 0.0) -> VectorHit:
    payload: dict[str, Any] = {"text": text, "title": title, "chunk_index": 0}
    return VectorHit(id=uuid.uuid4(), score=score, payload=payload)


@pytest.fixture
def reranker(cross_encoder: Any, cross_encoder_dir: Path) -> CrossEncoderReranker:
    settings = RerankSettings(provider="local", model_path=cross_encoder_dir)
    return CrossEncoderReranker(model=cross_encoder, settings=settings)


def test_passage_text_prefixes_the_title() -> None:
    assert passage_text({"text": "Body.", "title": " Otters "}, with_title=True) == "Otters\nBody."
    assert passage_text({"text": "Body.", "title": "Otters"}, with_title=False) == "Body."
    assert passage_text({"text": "Body.", "title": None}, with_title=True) == "Body."
    assert passage_text({"text": "Body.", "title": "  "}, with_title=True) == "Body."
    assert passage_text({"text": "Otters: body.", "title": "Otters"}, with_title=True) == (
        "Otters: body."
    )  # a chunk that already starts with its title is not repeated
    assert passage_text({"title": "Otters"}, with_title=False) == ""
    with_header = {"text": "Body.", "title": "otters.md", "context": "Otters > Hands"}
    assert passage_text(with_header, with_title=True) == "Otters > Hands\nBody."


def test_candidates_are_at_least_top_k(reranker: CrossEncoderReranker) -> None:
    stage = Reranking(reranker, depth=20)
    assert stage.candidates(5) == 20
    assert stage.candidates(50) == 50


async def test_hits_are_ordered_by_the_models_scores(
    reranker: CrossEncoderReranker, cross_encoder: Any
) -> None:
    hits = [
        hit("Sea otters hold hands so they do not drift apart.", "Otters", score=0.1),
        hit("Interest rates rose in the second quarter.", "Economy", score=0.9),
        hit("River otters sleep in dens on land.", None, score=0.5),
        hit("The committee meets every Tuesday.", "Minutes", score=0.7),
    ]
    reranked = await Reranking(reranker).rerank(QUERY, hits)
    read = [passage_text(h.payload, with_title=True) for h in hits]
    expected = cross_encoder.predict([(QUERY, t) for t in read], show_progress_bar=False)
    by_id = {h.id: h.score for h in reranked}
    np.testing.assert_allclose([by_id[h.id] for h in hits], expected, atol=1e-5)
    scores = [h.score for h in reranked]
    assert scores == sorted(scores, reverse=True)
    assert [h.id for h in reranked] == [hits[i].id for i in np.argsort(-expected, kind="stable")]
    assert {h.id: h.payload for h in reranked} == {h.id: h.payload for h in hits}


async def test_without_titles_the_model_reads_the_text_only(
    reranker: CrossEncoderReranker, cross_encoder: Any
) -> None:
    hits = [hit("Otters hold hands.", "A long unrelated title about tax law")]
    [with_title] = await Reranking(reranker, with_title=True).rerank(QUERY, hits)
    [bare] = await Reranking(reranker, with_title=False).rerank(QUERY, hits)
    plain = float(cross_encoder.predict([(QUERY, "Otters hold hands.")])[0])
    assert bare.score == pytest.approx(plain, abs=1e-5)
    assert with_title.score != pytest.approx(bare.score, abs=1e-6)


async def test_ties_keep_the_retrieval_order(reranker: CrossEncoderReranker) -> None:
    twins = [hit("Otters hold hands.", "Otters") for _ in range(3)]
    reranked = await Reranking(reranker).rerank(QUERY, twins)
    assert [h.id for h in reranked] == [h.id for h in twins]


async def test_no_hits_scores_nothing(reranker: CrossEncoderReranker) -> None:
    assert await Reranking(reranker).rerank(QUERY, []) == []
    assert reranker.calls == 0


def test_fingerprint_follows_what_shapes_results(tmp_path: Path) -> None:
    base = RerankSettings(provider="local", model_path=tmp_path / "a")
    same = rerank_fingerprint(base, "a")
    assert rerank_fingerprint(base.model_copy(), "a") == same
    for changed in (
        base.model_copy(update={"depth": 10}),
        base.model_copy(update={"with_title": False}),
        base.model_copy(update={"model_path": tmp_path / "b"}),
    ):
        assert rerank_fingerprint(changed, "a") != same
    assert rerank_fingerprint(base, "b") != same
    # how it is reached does not change what it returns
    for unchanged in (
        base.model_copy(update={"timeout_s": 1.0}),
        base.model_copy(update={"max_retries": 0}),
        base.model_copy(update={"batch_size": 4}),
        base.model_copy(update={"max_concurrency": 8}),
    ):
        assert rerank_fingerprint(unchanged, "a") == same
