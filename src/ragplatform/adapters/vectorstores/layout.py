"""The point layout shared by the Qdrant adapters (ARCHITECTURE §4): names, ids, payloads."""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ragplatform.ports import ChunkRecord, VectorHit

DENSE = "dense"
SPARSE = "bm25"
CHUNK_ID = "chunk_id"
RRF_K = 60
# How hybrid fuses its dense and BM25 candidates: reciprocal rank, or distribution-based score.
FusionMethod = Literal["rrf", "dbsf"]
UPSERT_BATCH = 256
# Point ids are derived from (tenant, chunk id), so two tenants may use identical chunk ids.
_POINT_NAMESPACE = uuid.UUID("6f1c8a52-3c0e-4d7e-9b64-0d5f2b7e9a11")
LAYOUT_KEYS = (
    "tenant_id",
    "collection_id",
    "document_id",
    "document_version",
    "chunk_index",
    "text",
    CHUNK_ID,
)


def physical_name(prefix: str, model: str, dimension: int) -> str:
    """``<prefix>_<model>_<dim>``: one physical collection per embedding model and size."""
    slug = re.sub(r"[^a-z0-9]+", "_", model.lower()).strip("_")[:80] or "model"
    return f"{prefix}_{slug}_{dimension}"


def point_id(tenant_id: str, chunk_id: uuid.UUID) -> uuid.UUID:
    """The engine id of a tenant's chunk (stable, so re-upserts replace)."""
    return uuid.uuid5(_POINT_NAMESPACE, f"{tenant_id}\x1f{chunk_id}")


# DBSF normalises each branch by the mean and spread of its candidates, so a shallow prefetch
# skews the scale: a top_k 10 request (20 chunks asked) measured nDCG@10 0.7343 on SciFact train
# with 80 candidates per branch and 0.7400 with 400, for 0.9 ms more in the engine
# (benchmarks/RESULTS.md, "Retrieval signal variants", depth group).
MIN_SEARCH_DEPTH = 400


def search_depth(limit: int) -> int:
    """Candidates each hybrid branch contributes to the fusion."""
    return max(limit * 4, MIN_SEARCH_DEPTH)


def jsonable(value: Any) -> Any:
    """A JSON-like copy of ``value``: datetimes as ISO strings, UUIDs and paths as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, Sequence | set | frozenset) and not isinstance(value, bytes | bytearray):
        return [jsonable(v) for v in value]
    return str(value)


def chunk_payload(chunk: ChunkRecord) -> dict[str, Any]:
    """The stored payload: the chunk's own payload, then the layout fields (which win)."""
    payload: dict[str, Any] = jsonable(chunk.payload)
    payload.update(
        tenant_id=chunk.tenant_id,
        collection_id=chunk.collection_id,
        document_id=chunk.document_id,
        document_version=int(chunk.document_version),
        chunk_index=int(chunk.chunk_index),
        text=chunk.text,
        chunk_id=str(chunk.id),
    )
    return payload


def dense_values(chunk: ChunkRecord, dimension: int) -> list[float]:
    """The chunk's dense vector as floats, checked against the collection's size."""
    values = [float(v) for v in chunk.dense]
    if len(values) != dimension:
        raise ValueError(
            f"chunk {chunk.id} has a {len(values)}-d vector; the store holds {dimension}-d"
        )
    return values


def check_tenant(tenant_id: str, chunks: Sequence[ChunkRecord]) -> None:
    """Refuse chunks that name another tenant than the call does."""
    if not tenant_id:
        raise ValueError("tenant_id must not be empty")
    for chunk in chunks:
        if chunk.tenant_id != tenant_id:
            raise ValueError(f"chunk {chunk.id} belongs to another tenant than {tenant_id!r}")


def named_dense(vector: Any) -> list[float]:
    """The ``dense`` vector of a point read back with its named vectors."""
    values = vector.get(DENSE) if isinstance(vector, Mapping) else None
    if not isinstance(values, Sequence):
        raise ValueError("a stored point has no dense vector")
    return [float(v) for v in values]


def to_record(payload: Mapping[str, Any] | None, dense: Sequence[float]) -> ChunkRecord:
    """The chunk as it was upserted, from a stored point (exports): layout keys lifted out."""
    data = dict(payload or {})
    return ChunkRecord(
        id=uuid.UUID(str(data[CHUNK_ID])),
        tenant_id=str(data["tenant_id"]),
        collection_id=str(data["collection_id"]),
        document_id=str(data["document_id"]),
        document_version=int(data["document_version"]),
        chunk_index=int(data["chunk_index"]),
        text=str(data["text"]),
        dense=[float(v) for v in dense],
        payload={k: v for k, v in data.items() if k not in LAYOUT_KEYS},
    )


def to_hit(score: float, payload: Mapping[str, Any] | None) -> VectorHit:
    """A port hit from an engine point: the caller's chunk id, score and payload."""
    data = dict(payload or {})
    chunk_id = uuid.UUID(str(data.pop(CHUNK_ID)))
    return VectorHit(id=chunk_id, score=float(score), payload=data)
