"""Deliberate differences between adapters, each pinned (README: "Choosing a vector backend")."""

from __future__ import annotations

import pytest

from ragplatform.ports import SearchMode, VectorHit, VectorStore
from tests.contract.vector_data import chunk, fake_vector, is_milvus

A = "tenant-a"


async def _keyword(store: VectorStore, text: str) -> list[VectorHit]:
    return await store.search(
        tenant_id=A,
        collection_ids=["c1"],
        query_text=text,
        query_dense=None,
        mode="keyword",
        limit=10,
    )


async def test_texts_beyond_a_milvus_varchar_are_refused_there_only(store: VectorStore) -> None:
    """Milvus keeps text in a VARCHAR of at most 65,535 UTF-8 bytes; Qdrant has no limit."""
    fits = chunk(A, document="fits", text="é" * 32_767)  # 65,534 bytes
    too_long = chunk(A, document="long", text="é" * 32_768 + " needle")
    await store.upsert(tenant_id=A, chunks=[fits])
    if is_milvus(store):
        with pytest.raises(ValueError, match="65535"):
            await store.upsert(tenant_id=A, chunks=[chunk(A, document="ok"), too_long])
        assert await store.count(tenant_id=A) == 1  # nothing of the refused batch was written
    else:
        await store.upsert(tenant_id=A, chunks=[too_long])
        assert [h.payload["document_id"] for h in await _keyword(store, "needle")] == ["long"]
    [hit] = await store.list_chunks(tenant_id=A, document_id="fits", version=1, offset=0, limit=1)
    assert hit.payload["text"] == fits.text


async def test_stemming_everywhere_but_milvus_lite(store: VectorStore) -> None:
    """BM25 stems English words; Milvus Lite's analyzer has no stemmer (a Milvus server does)."""
    await store.upsert(
        tenant_id=A,
        chunks=[
            chunk(A, document="parking", text="Parking is allowed behind the warehouse."),
            chunk(A, document="lunch", text="The cafeteria serves lunch."),
        ],
    )
    exact = await _keyword(store, "parking")
    stemmed = await _keyword(store, "parks")
    assert [h.payload["document_id"] for h in exact] == ["parking"]
    if is_milvus(store) and getattr(store, "lite_path", None) is not None:
        assert stemmed == []
    else:
        assert [h.payload["document_id"] for h in stemmed] == ["parking"]


async def test_stop_words_are_the_same_everywhere(store: VectorStore) -> None:
    """Every adapter drops NLTK's English stop words, so such queries find nothing."""
    await store.upsert(tenant_id=A, chunks=[chunk(A, text="what should we do about the otters")])
    assert await _keyword(store, "What should we do about those of yours?") == []
    assert len(await _keyword(store, "what about the otters?")) == 1


async def test_hybrid_scores_are_rank_fusions_on_milvus(store: VectorStore) -> None:
    """Milvus fuses hybrid branches by RRF (k=60) whatever fusion is configured."""
    target = chunk(A, document="t", text="alpha beta gamma")
    await store.upsert(tenant_id=A, chunks=[target, chunk(A, document="o", text="delta")])
    modes: tuple[SearchMode, ...] = ("hybrid",)
    for mode in modes:
        hits = await store.search(
            tenant_id=A,
            collection_ids=["c1"],
            query_text="alpha",
            query_dense=list(target.dense),
            mode=mode,
            limit=2,
        )
        assert hits[0].id == target.id
        if is_milvus(store):
            assert store.fusion == "rrf"  # type: ignore[attr-defined]
            # first in both branches: 1/(60+1) twice
            assert hits[0].score == pytest.approx(2 / 61)
            assert hits[1].score < hits[0].score
    dense = await store.search(
        tenant_id=A,
        collection_ids=["c1"],
        query_text="",
        query_dense=fake_vector("c1/d1/1/0"),
        mode="dense",
        limit=1,
    )
    assert -1.0 <= dense[0].score <= 1.0  # cosine on every adapter
