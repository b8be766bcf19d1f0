"""Search: the caller's readable collections, the query embedded once, fusion in the engine."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ragplatform.documents.collections import readable_collection
from ragplatform.documents.models import Collection, Document
from ragplatform.observability.metrics import Metrics
from ragplatform.ports import Embedder, VectorHit, VectorStore
from ragplatform.retrieval.schemas import SearchHit, SearchRequest, SearchResponse
from ragplatform.tenancy.principal import Principal
from ragplatform.tenancy.roles import Role

# Chunks of a version being replaced can linger for a moment after the switch; ask for a
# little more than top_k so dropping them never shortens the answer.
OVERFETCH = 2


async def _collections(
    session: AsyncSession, principal: Principal, wanted: list[uuid.UUID] | None
) -> list[str]:
    tenant_id = principal.require_role(Role.VIEWER)
    if wanted is not None:
        for collection_id in dict.fromkeys(wanted):
            await readable_collection(session, principal=principal, collection_id=collection_id)
        return [str(c) for c in dict.fromkeys(wanted)]
    ids = (
        await session.scalars(select(Collection.id).where(Collection.tenant_id == tenant_id))
    ).all()
    return [str(c) for c in ids if principal.can_read_collection(str(c))]


async def _current(session: AsyncSession, hits: list[VectorHit]) -> list[VectorHit]:
    """Only chunks of each document's indexed version (never both versions, never orphans)."""
    doc_ids = {uuid.UUID(str(h.payload["document_id"])) for h in hits}
    if not doc_ids:
        return []
    rows = await session.execute(
        select(Document.id, Document.indexed_version).where(Document.id.in_(doc_ids))
    )
    live = {str(doc_id): version for doc_id, version in rows.all()}
    return [
        h
        for h in hits
        if live.get(str(h.payload["document_id"])) == int(h.payload["document_version"])
    ]


def _hit(hit: VectorHit) -> SearchHit:
    payload: dict[str, Any] = hit.payload
    return SearchHit(
        chunk_id=hit.id,
        text=str(payload.get("text", "")),
        score=hit.score,
        document_id=uuid.UUID(str(payload["document_id"])),
        collection_id=uuid.UUID(str(payload["collection_id"])),
        title=payload.get("title"),
        source=payload.get("source"),
        page=payload.get("page"),
        heading_path=list(payload.get("heading_path") or []),
        chunk_index=int(payload["chunk_index"]),
        metadata=dict(payload.get("metadata") or {}),
    )


async def search(
    session: AsyncSession,
    *,
    principal: Principal,
    request: SearchRequest,
    embedder: Embedder,
    vectors: VectorStore,
    metrics: Metrics | None = None,
) -> SearchResponse:
    """The best chunks for the query across the caller's readable collections."""
    collection_ids = await _collections(session, principal, request.collection_ids)
    if not collection_ids:
        return SearchResponse(mode=request.mode, hits=[])
    started = time.perf_counter()
    dense = None if request.mode == "keyword" else await embedder.embed_query(request.query)
    embedded = time.perf_counter()
    raw = await vectors.search(
        tenant_id=str(principal.tenant_id),
        collection_ids=collection_ids,
        query_text=request.query,
        query_dense=dense,
        mode=request.mode,
        limit=request.top_k * OVERFETCH,
    )
    if metrics is not None:
        metrics.observe_stage("embed_query", embedded - started)
        metrics.observe_stage("retrieve", time.perf_counter() - embedded)
    hits = await _current(session, raw)
    if request.score_threshold is not None:
        hits = [h for h in hits if h.score >= request.score_threshold]
    return SearchResponse(mode=request.mode, hits=[_hit(h) for h in hits[: request.top_k]])
