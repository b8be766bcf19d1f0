"""Search: the caller's readable collections, the query embedded once, fusion in the engine."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ragplatform.ports import VectorHit
from ragplatform.retrieval.cache import cache_key, normalise_text
from ragplatform.retrieval.filters import MetadataFilter
from ragplatform.retrieval.runtime import Retrieval
from ragplatform.retrieval.schemas import SearchHit, SearchRequest, SearchResponse
from ragplatform.retrieval.scope import CollectionRef, current_hits, readable_collections
from ragplatform.tenancy.principal import Principal

# Chunks of a version being replaced can linger for a moment after the switch; ask for a
# little more than top_k so dropping them never shortens the answer.
OVERFETCH = 2


def origin(payload: dict[str, Any]) -> dict[str, Any]:
    """Where a stored chunk comes from: document, collection, title, source, page, headings."""
    return {
        "document_id": uuid.UUID(str(payload["document_id"])),
        "collection_id": uuid.UUID(str(payload["collection_id"])),
        "title": payload.get("title"),
        "source": payload.get("source"),
        "page": payload.get("page"),
        "heading_path": list(payload.get("heading_path") or []),
    }


def to_search_hit(hit: VectorHit) -> SearchHit:
    """The API shape of a stored chunk."""
    return SearchHit(
        chunk_id=hit.id,
        text=str(hit.payload.get("text", "")),
        score=hit.score,
        chunk_index=int(hit.payload["chunk_index"]),
        metadata=dict(hit.payload.get("metadata") or {}),
        **origin(hit.payload),
    )


async def retrieve(
    session: AsyncSession,
    *,
    tenant_id: str,
    collections: list[CollectionRef],
    query: str,
    mode: Any,
    top_k: int,
    metadata_filter: MetadataFilter | None,
    runtime: Retrieval,
    dense: list[float] | None = None,
) -> list[VectorHit]:
    """The best current chunks for ``query`` (``dense`` reuses a query vector already made).

    With a re-ranker, ``max(top_k, depth)`` candidates are re-scored and the best ``top_k``
    returned, each with the re-ranker's score.
    """
    if not collections:
        return []
    if dense is None and mode != "keyword":
        dense = await runtime.queries.embed(query, tenant_id=tenant_id)
    reranking = runtime.reranking
    wanted = top_k if reranking is None else reranking.candidates(top_k)
    started = time.perf_counter()
    raw = await runtime.vectors.search(
        tenant_id=tenant_id,
        collection_ids=[c.id for c in collections],
        query_text=query,
        query_dense=dense,
        mode=mode,
        limit=wanted * OVERFETCH,
        filter=metadata_filter,
    )
    runtime.observe("retrieve", time.perf_counter() - started)
    hits = (await current_hits(session, raw))[:wanted]
    if reranking is not None and hits:
        await session.commit()  # no transaction held while the model scores
        started = time.perf_counter()
        hits = await reranking.rerank(query, hits)
        runtime.observe("rerank", time.perf_counter() - started)
    return hits[:top_k]


async def search(
    session: AsyncSession, *, principal: Principal, request: SearchRequest, runtime: Retrieval
) -> SearchResponse:
    """The best chunks for the query across the caller's readable collections (cached)."""
    collections = await readable_collections(
        session, principal=principal, wanted=request.collection_ids
    )
    await session.commit()  # no transaction (or pooled connection) held while embedding
    if not collections:
        return SearchResponse(mode=request.mode, hits=[])
    tenant_id = str(principal.tenant_id)
    key = cache_key(
        "search",
        tenant_id=tenant_id,
        collections=collections,
        request={
            "query": normalise_text(request.query),
            "top_k": request.top_k,
            "mode": request.mode,
            "filter": request.filter,
            "score_threshold": request.score_threshold,
        },
        config=runtime.fingerprint,
    )
    cached = await runtime.results.get("search", key, SearchResponse)
    if cached is not None:
        return cached.model_copy(update={"cached": True})
    hits = await retrieve(
        session,
        tenant_id=tenant_id,
        collections=collections,
        query=request.query,
        mode=request.mode,
        top_k=request.top_k,
        metadata_filter=request.metadata_filter(),
        runtime=runtime,
    )
    if request.score_threshold is not None:
        hits = [h for h in hits if h.score >= request.score_threshold]
    response = SearchResponse(mode=request.mode, hits=[to_search_hit(h) for h in hits])
    await runtime.results.set(key, response)
    return response
