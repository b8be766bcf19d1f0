"""Chunks and stand-in vectors for the VectorStore contract and adapter tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ragplatform.ports import ChunkRecord, VectorStore

DIM = 384
_IDS = uuid.UUID("0b5e8f3e-6a41-4c1b-9d0e-2f7c1a9e4b55")

Encode = Callable[[Sequence[str]], list[list[float]]]


def fake_vector(seed: str) -> list[float]:
    """A deterministic unit vector for ``seed`` (stands in for an embedding)."""
    rng = np.random.default_rng(uuid.uuid5(_IDS, seed).int % 2**32)
    vector = rng.standard_normal(DIM)
    return [float(x) for x in vector / np.linalg.norm(vector)]


def chunk(
    tenant: str,
    collection: str = "c1",
    document: str = "d1",
    index: int = 0,
    *,
    version: int = 1,
    text: str | None = None,
    dense: Sequence[float] | None = None,
    payload: dict[str, Any] | None = None,
) -> ChunkRecord:
    """A chunk whose id depends on collection/document/version/index only, not on the tenant."""
    key = f"{collection}/{document}/{version}/{index}"
    return ChunkRecord(
        id=uuid.uuid5(_IDS, key),
        tenant_id=tenant,
        collection_id=collection,
        document_id=document,
        document_version=version,
        chunk_index=index,
        text=text if text is not None else f"chunk {index} of {document} in {collection}",
        dense=dense if dense is not None else fake_vector(key),
        payload=payload if payload is not None else {"title": document, "metadata": {}},
    )


def is_milvus(store: VectorStore) -> bool:
    """Whether ``store`` is the Milvus adapter (for its documented exceptions)."""
    from ragplatform.adapters.vectorstores.milvus import MilvusStore

    return isinstance(store, MilvusStore)
