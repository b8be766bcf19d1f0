"""The export contract: every adapter gives back its chunks exactly as they were upserted.

Feeding an export to ``upsert`` of a fresh store (of the same kind, or any other) recreates the
same points: same ids, payloads and dense vectors, hence the same search results and scores.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient

from ragplatform.adapters.vectorstores.layout import LAYOUT_KEYS, jsonable
from ragplatform.adapters.vectorstores.qdrant_edge import QdrantEdgeStore
from ragplatform.adapters.vectorstores.qdrant_server import QdrantServerStore
from ragplatform.ports import ChunkRecord, SearchMode, VectorHit, VectorStore
from tests.contract.vector_data import DIM, Encode, chunk

A, B = "tenant-a", "tenant-b"
TEXTS = {
    "remote": "Employees may work from home up to three days per week.",
    "printer": "The printer on floor two is maintained by Okonkwo from facilities.",
    "holiday": "Everyone gets twenty five days of paid holiday per year.",
    "parking": "Parking is allowed only in the marked bays behind the warehouse.",
    "expenses": "Expense reports above 500 euros require a second approval from finance.",
    "dogs": "Dogs are not allowed inside the office building.",
}
QUERIES = ["Is telecommuting permitted?", "Okonkwo printer", "holiday days per year"]
MODES: tuple[SearchMode, ...] = ("dense", "keyword", "hybrid")


def _corpus(tenant: str, encode: Encode) -> list[ChunkRecord]:
    names = list(TEXTS)
    vectors = encode([TEXTS[n] for n in names])
    return [
        chunk(
            tenant,
            collection="c1" if i % 2 else "c2",
            document=name,
            index=i,
            version=1 + i % 3,
            text=TEXTS[name],
            dense=vector,
            payload={
                "title": name.title(),
                "page": i,
                "heading_path": ["Policies", name],
                "metadata": {"team": "hr", "created": dt.datetime(2024, 5, i + 1, 9, 30)},
                "tenant_id": "spoofed",  # a layout key in the payload never survives
            },
        )
        for i, (name, vector) in enumerate(zip(names, vectors, strict=True))
    ]


async def _export(store: VectorStore, tenant: str, batch_size: int = 256) -> list[ChunkRecord]:
    return [
        c
        async for batch in store.export_chunks(tenant_id=tenant, batch_size=batch_size)
        for c in batch
    ]


async def _results(
    store: VectorStore, encode: Encode
) -> dict[tuple[str, str], list[tuple[str, float]]]:
    found = {}
    for query in QUERIES:
        [vector] = encode([query])
        for mode in MODES:
            hits: list[VectorHit] = await store.search(
                tenant_id=A,
                collection_ids=["c1", "c2"],
                query_text=query,
                query_dense=vector,
                mode=mode,
                limit=4,
            )
            found[query, mode] = [(str(h.id), h.score) for h in hits]
    return found


async def _fresh_like(store: VectorStore, tmp_path: Path) -> VectorStore:
    """A new, empty store of the same adapter as ``store``."""
    if isinstance(store, QdrantEdgeStore):
        return QdrantEdgeStore.open(tmp_path / "fresh", dimension=DIM, indexing_threshold_kb=20_000)
    if isinstance(store, QdrantServerStore):
        client = AsyncQdrantClient(location=":memory:")
        return await QdrantServerStore.open(client, collection_name="fresh_384", dimension=DIM)
    from ragplatform.adapters.vectorstores.milvus import MilvusStore

    if isinstance(store, MilvusStore):
        return MilvusStore.open_lite(
            tmp_path / "fresh-milvus.db", collection_name="fresh_384", dimension=DIM
        )
    raise AssertionError(f"add a fresh {type(store).__name__} to this test")


def _same(
    found: dict[tuple[str, str], list[tuple[str, float]]],
    expected: dict[tuple[str, str], list[tuple[str, float]]],
) -> None:
    assert found.keys() == expected.keys()
    for key, hits in expected.items():
        assert [h for h, _ in found[key]] == [h for h, _ in hits], key
        for (_, got), (_, want) in zip(found[key], hits, strict=True):
            assert math.isclose(got, want, rel_tol=1e-5, abs_tol=1e-6), key


async def test_export_gives_back_every_chunk_as_upserted(
    store: VectorStore, encode: Encode
) -> None:
    corpus = _corpus(A, encode)
    await store.upsert(tenant_id=A, chunks=corpus)
    exported = {c.id: c for c in await _export(store, A)}
    assert exported.keys() == {c.id for c in corpus}
    for original in corpus:
        record = exported[original.id]
        assert (record.tenant_id, record.collection_id, record.document_id) == (
            A,
            original.collection_id,
            original.document_id,
        )
        assert (record.document_version, record.chunk_index, record.text) == (
            original.document_version,
            original.chunk_index,
            original.text,
        )
        expected_payload = {
            k: v for k, v in jsonable(original.payload).items() if k not in LAYOUT_KEYS
        }
        assert record.payload == expected_payload
        assert not LAYOUT_KEYS & record.payload.keys()
        assert len(record.dense) == DIM
        # stores keep float32: the exported vector is the float32 of what went in
        assert all(
            math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7)
            for a, b in zip(record.dense, original.dense, strict=True)
        )


async def test_round_trip_into_a_fresh_store_keeps_results_and_scores(
    store: VectorStore, encode: Encode, tmp_path: Path
) -> None:
    await store.upsert(tenant_id=A, chunks=_corpus(A, encode))
    await store.upsert(tenant_id=B, chunks=_corpus(B, encode)[:2])
    before = await _results(store, encode)
    exported = await _export(store, A, batch_size=4)
    fresh = await _fresh_like(store, tmp_path)
    try:
        await fresh.upsert(tenant_id=A, chunks=exported)
        assert await fresh.count(tenant_id=A) == len(TEXTS)
        assert await fresh.count(tenant_id=B) == 0
        _same(await _results(fresh, encode), before)
        again = {c.id: c for c in await _export(fresh, A)}
        assert again == {c.id: c for c in exported}, "an export of the copy equals the original's"
    finally:
        await fresh.close()


async def test_round_trip_into_another_adapter_keeps_dense_scores(
    store: VectorStore, encode: Encode, tmp_path: Path
) -> None:
    """Across backends the dense vectors travel exactly; BM25 is rebuilt from the text."""
    await store.upsert(tenant_id=A, chunks=_corpus(A, encode))
    reference = QdrantEdgeStore.open(
        tmp_path / "reference", dimension=DIM, indexing_threshold_kb=20_000
    )
    try:
        await reference.upsert(tenant_id=A, chunks=await _export(store, A))
        source, copy = await _results(store, encode), await _results(reference, encode)
        _same(
            {k: v for k, v in copy.items() if k[1] == "dense"},
            {k: v for k, v in source.items() if k[1] == "dense"},
        )
        for query in QUERIES:
            top = [hit for hit, _ in copy[query, "keyword"][:1]]
            assert top == [hit for hit, _ in source[query, "keyword"][:1]], query
    finally:
        await reference.close()


async def test_only_the_given_tenant_is_exported(store: VectorStore, encode: Encode) -> None:
    await store.upsert(tenant_id=A, chunks=_corpus(A, encode))
    await store.upsert(tenant_id=B, chunks=[chunk(B, document=f"b{i}", index=i) for i in range(3)])
    exported_a, exported_b = await _export(store, A), await _export(store, B)
    assert {c.tenant_id for c in exported_a} == {A}
    assert {c.tenant_id for c in exported_b} == {B}
    assert len(exported_a) == len(TEXTS) and len(exported_b) == 3
    assert {c.document_id for c in exported_b} == {"b0", "b1", "b2"}


async def test_batches_respect_the_batch_size(store: VectorStore) -> None:
    await store.upsert(tenant_id=A, chunks=[chunk(A, document=f"d{i}", index=i) for i in range(7)])
    sizes = [len(batch) async for batch in store.export_chunks(tenant_id=A, batch_size=3)]
    assert sum(sizes) == 7
    assert all(0 < size <= 3 for size in sizes)


async def test_an_empty_or_unknown_tenant_exports_nothing(store: VectorStore) -> None:
    assert [b async for b in store.export_chunks(tenant_id=A)] == []
    await store.upsert(tenant_id=B, chunks=[chunk(B)])
    await store.delete_tenant(tenant_id=B)
    assert [b async for b in store.export_chunks(tenant_id=B)] == []


async def test_export_refuses_a_missing_tenant(store: VectorStore) -> None:
    with pytest.raises(ValueError, match="tenant_id"):
        await _export(store, "")
