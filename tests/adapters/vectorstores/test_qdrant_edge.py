"""Qdrant Edge specifics: persistence, the single-opener lock, optimize, engine guards."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ragplatform.adapters.vectorstores import qdrant_edge
from ragplatform.adapters.vectorstores.bm25 import Bm25Encoder, SparseTerms
from ragplatform.adapters.vectorstores.qdrant_edge import QdrantEdgeStore, _is_io
from ragplatform.errors import StartupError, Unavailable
from tests.contract.vector_data import DIM, chunk, fake_vector

T = "tenant-a"


def _open(path: Path, *, threshold_kb: int = 20_000, dimension: int = DIM) -> QdrantEdgeStore:
    return QdrantEdgeStore.open(path, dimension=dimension, indexing_threshold_kb=threshold_kb)


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[QdrantEdgeStore]:
    """A fresh store under tmp_path/shard."""
    store = _open(tmp_path / "shard")
    try:
        yield store
    finally:
        await store.close()


def test_path_for_follows_the_layout(tmp_path: Path) -> None:
    path = QdrantEdgeStore.path_for(
        tmp_path, collection_prefix="ragplatform", model="all-MiniLM-L6-v2", dimension=384
    )
    assert path == tmp_path / "vectors" / "qdrant-edge" / "ragplatform_all_minilm_l6_v2_384"


async def test_reopen_keeps_points_and_indexes(tmp_path: Path) -> None:
    path = QdrantEdgeStore.path_for(tmp_path, collection_prefix="rp", model="m", dimension=DIM)
    store = _open(path)
    await store.upsert(tenant_id=T, chunks=[chunk(T, index=i) for i in range(5)])
    await store.close()
    await store.close()  # closing twice is harmless
    assert (path / "edge_config.json").exists()

    reopened = _open(path)
    try:
        assert await reopened.count(tenant_id=T) == 5
        hits = await reopened.search(
            tenant_id=T,
            collection_ids=["c1"],
            query_text="chunk 3",
            query_dense=fake_vector("c1/d1/1/3"),
            mode="hybrid",
            limit=1,
        )
        assert hits[0].payload["chunk_index"] == 3
        schema = reopened._shard.info().payload_schema
        assert set(schema) >= {"tenant_id", "collection_id", "document_id", "chunk_index"}
        assert schema["tenant_id"].params.is_tenant is True
    finally:
        await reopened.close()


async def test_second_open_in_this_process_is_refused(edge: QdrantEdgeStore) -> None:
    with pytest.raises(StartupError) as caught:
        _open(edge.path)
    assert str(caught.value) == (
        f"the vector data under {edge.path} is in use by another ragplatform process"
    )
    await edge.ping()  # the first opener is unaffected


async def test_open_from_another_process_is_refused(edge: QdrantEdgeStore) -> None:
    script = (
        "import sys; from pathlib import Path\n"
        "from ragplatform.adapters.vectorstores.qdrant_edge import QdrantEdgeStore\n"
        "from ragplatform.errors import StartupError\n"
        "try:\n"
        f"    QdrantEdgeStore.open(Path(sys.argv[1]), dimension={DIM}, indexing_threshold_kb=1)\n"
        "except StartupError as exc:\n"
        "    print(exc)\n"
    )
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", script, str(edge.path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == (
        f"the vector data under {edge.path} is in use by another ragplatform process"
    )


async def test_another_dimension_is_refused(tmp_path: Path) -> None:
    store = _open(tmp_path / "s", dimension=8)
    await store.close()
    with pytest.raises(StartupError, match="does not fit this embedding model"):
        _open(tmp_path / "s", dimension=16)


def test_unusable_path_is_a_startup_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StartupError, match="cannot open the vector data"):
        _open(tmp_path / "file" / "shard")


async def test_failed_index_setup_releases_the_shard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(qdrant_edge._INDEXES, "broken", "not-a-schema")
    with pytest.raises(TypeError):
        _open(tmp_path / "s")
    monkeypatch.delitem(qdrant_edge._INDEXES, "broken")
    store = _open(tmp_path / "s")  # the lock was released
    await store.close()


async def test_optimize_builds_the_index(tmp_path: Path) -> None:
    store = _open(tmp_path / "s", threshold_kb=1)
    try:
        chunks = [chunk(T, document=f"d{i // 50}", index=i % 50) for i in range(400)]
        await store.upsert(tenant_id=T, chunks=chunks)
        before = store._shard.info().indexed_vectors_count
        assert await store.optimize() is True
        assert store._shard.info().indexed_vectors_count > before
        assert await store.optimize() is False
        target = chunks[123]
        hits = await store.search(
            tenant_id=T,
            collection_ids=["c1"],
            query_text="",
            query_dense=list(target.dense),
            mode="dense",
            limit=3,
        )
        assert hits[0].id == target.id
        assert await store.count(tenant_id=T) == 400
    finally:
        await store.close()


class _BrokenEncoder(Bm25Encoder):
    """Yields a sparse vector whose lengths disagree (the engine would panic on it)."""

    def document(self, text: str) -> SparseTerms:
        broken = object.__new__(SparseTerms)
        object.__setattr__(broken, "indices", [1, 2, 3])
        object.__setattr__(broken, "values", [1.0])
        return broken


async def test_mismatched_sparse_vector_never_reaches_the_engine(
    edge: QdrantEdgeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    updates: list[Any] = []
    real_update = edge._update
    monkeypatch.setattr(edge, "_update", lambda op: (updates.append(op), real_update(op)))
    good = Bm25Encoder()
    edge._encoder = _BrokenEncoder()
    with pytest.raises(ValueError, match="3 indices but 1 values"):
        await edge.upsert(tenant_id=T, chunks=[chunk(T)])
    assert updates == []
    edge._encoder = good
    await edge.upsert(tenant_id=T, chunks=[chunk(T)])
    assert len(updates) == 1
    assert await edge.count(tenant_id=T) == 1


async def test_large_upserts_are_split_into_batches(
    edge: QdrantEdgeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    real_update = edge._update
    monkeypatch.setattr(edge, "_update", lambda op: (calls.append(op), real_update(op)))
    edge.batch_size = 100
    await edge.upsert(tenant_id=T, chunks=[chunk(T, index=i) for i in range(250)])
    assert len(calls) == 3
    assert await edge.count(tenant_id=T) == 250


async def test_engine_failures_become_unavailable(tmp_path: Path) -> None:
    store = _open(tmp_path / "s")
    await store.upsert(tenant_id=T, chunks=[chunk(T)])
    store._shard.close()  # the engine now answers "Service runtime error: Shard is not initialized"
    with pytest.raises(Unavailable) as caught:
        await store.count(tenant_id=T)
    assert caught.value.code == "vector_store_unavailable"
    assert "not initialized" in str(caught.value.__cause__)
    with pytest.raises(Unavailable):
        await store.ping()
    with pytest.raises(Unavailable):  # a failed flush is reported, the store still ends closed
        await store.close()
    with pytest.raises(Unavailable, match="closed"):
        await store.count(tenant_id=T)


async def test_calls_after_close_are_unavailable(tmp_path: Path) -> None:
    store = _open(tmp_path / "s")
    await store.close()
    with pytest.raises(Unavailable, match="closed"):
        await store.count(tenant_id=T)
    with pytest.raises(Unavailable, match="closed"):
        await store.ping()


def test_error_classification() -> None:
    assert _is_io(Exception("Service runtime error: failed to flush"))
    assert _is_io(OSError("disk full"))
    assert not _is_io(Exception("Vector dimension error: expected dim: 4, got 3"))
    assert not _is_io(Exception("Validation failed: bad"))
    assert not _is_io(ValueError("Service runtime error: a subclass is a programming error"))


async def test_concurrent_reads_and_writes_are_serialised(edge: QdrantEdgeStore) -> None:
    async def write(n: int) -> None:
        await edge.upsert(
            tenant_id=T, chunks=[chunk(T, document=f"w{n}", index=i) for i in range(20)]
        )

    async def read(n: int) -> int:
        hits = await edge.search(
            tenant_id=T,
            collection_ids=["c1"],
            query_text=f"chunk w{n}",
            query_dense=fake_vector(str(n)),
            mode="hybrid",
            limit=5,
        )
        return len(hits)

    results = await asyncio.gather(*(write(n) for n in range(10)), *(read(n) for n in range(30)))
    assert all(isinstance(r, int | None) for r in results)
    assert await edge.count(tenant_id=T) == 200


async def test_close_lets_queued_calls_finish(tmp_path: Path) -> None:
    store = _open(tmp_path / "s")
    await store.upsert(tenant_id=T, chunks=[chunk(T, index=i) for i in range(50)])
    counts = [asyncio.ensure_future(store.count(tenant_id=T)) for _ in range(5)]
    await asyncio.sleep(0)  # the counts are queued on the worker before close
    await store.close()
    assert await asyncio.gather(*counts) == [50] * 5
    reopened = _open(tmp_path / "s")  # the lock is released
    await reopened.close()


async def test_export_refuses_a_batch_size_below_one(edge: QdrantEdgeStore) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        await anext(edge.export_chunks(tenant_id=T, batch_size=0))
