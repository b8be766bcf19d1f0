"""VectorStore on a Qdrant server through ``AsyncQdrantClient`` (or its local mode in tests).

Same layout as the Qdrant Edge adapter: one collection per embedding model and dimension,
named vectors ``dense`` (cosine) and ``bm25`` (sparse, IDF modifier) with token ids from the
shared :class:`Bm25Encoder`, hybrid as dense + BM25 prefetches fused (DBSF, or RRF k=60) in the
engine, BM25 IDF computed over the tenant's own points (``IdfCorpusParams``).

Local mode (``AsyncQdrantClient(location=":memory:")`` or ``path=...``) differs: payload indexes
do nothing there, so none are created (no ``is_tenant`` partitioning, filters scan); search
is brute force in Python (fine for tests, slow past ~10k points); everything else, per-tenant
IDF included, behaves the same. Per-tenant IDF needs a server recent enough to accept
``SearchParams.idf`` (the qdrant-client 1.20 API).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ragplatform.adapters.vectorstores.bm25 import Bm25Encoder, SparseTerms, check_sparse
from ragplatform.adapters.vectorstores.layout import (
    DENSE,
    RRF_K,
    SPARSE,
    UPSERT_BATCH,
    FusionMethod,
    check_tenant,
    chunk_payload,
    dense_values,
    jsonable,
    named_dense,
    physical_name,
    point_id,
    search_depth,
    to_hit,
    to_record,
)
from ragplatform.adapters.vectorstores.qdrant_filters import qdrant_condition
from ragplatform.errors import StartupError, Unavailable
from ragplatform.ports import ChunkRecord, SearchMode, VectorHit

if TYPE_CHECKING:
    from ragplatform.retrieval.filters import MetadataFilter

T = TypeVar("T")
_INDEXES: dict[str, models.PayloadSchemaType | models.KeywordIndexParams] = {
    "tenant_id": models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
    "collection_id": models.PayloadSchemaType.KEYWORD,
    "document_id": models.PayloadSchemaType.KEYWORD,
    "document_version": models.PayloadSchemaType.INTEGER,
    "chunk_index": models.PayloadSchemaType.INTEGER,
}


def _is_io(exc: Exception) -> bool:
    """Transport failures, timeouts and 5xx/429 answers are retryable; 4xx are bugs."""
    if isinstance(exc, UnexpectedResponse):
        return exc.status_code is None or exc.status_code >= 500 or exc.status_code == 429
    return isinstance(exc, ResponseHandlingException | httpx.TransportError | OSError)


def _unavailable(exc: Exception) -> Unavailable:
    error = Unavailable("the vector store is unavailable", code="vector_store_unavailable")
    error.__cause__ = exc
    return error


def _match(key: str, value: str | int) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _tenant(tenant_id: str, *extra: models.Condition) -> models.Filter:
    if not tenant_id:
        raise ValueError("tenant_id must not be empty")
    return models.Filter(must=[_match("tenant_id", tenant_id), *extra])


def _sparse(terms: SparseTerms) -> models.SparseVector:
    check_sparse(terms.indices, terms.values)
    return models.SparseVector(indices=list(terms.indices), values=list(terms.values))


def is_local(client: AsyncQdrantClient) -> bool:
    """Whether ``client`` runs qdrant-client's in-process local mode."""
    options = client.init_options
    return options.get("location") == ":memory:" or options.get("path") is not None


class QdrantServerStore:
    """Chunks of every tenant in one server collection; each call filters by ``tenant_id``."""

    def __init__(
        self,
        client: AsyncQdrantClient,
        *,
        collection_name: str,
        dimension: int,
        encoder: Bm25Encoder | None = None,
        batch_size: int = UPSERT_BATCH,
        fusion: FusionMethod = "dbsf",
    ) -> None:
        self.client = client
        self.fusion = fusion
        self.collection_name = collection_name
        self.dimension = dimension
        self.batch_size = batch_size
        self.local = is_local(client)
        self._encoder = encoder or Bm25Encoder()

    @classmethod
    async def open(
        cls,
        client: AsyncQdrantClient,
        *,
        collection_name: str,
        dimension: int,
        fusion: FusionMethod = "dbsf",
    ) -> QdrantServerStore:
        """Wrap an existing client and create the collection and its indexes when missing."""
        store = cls(client, collection_name=collection_name, dimension=dimension, fusion=fusion)
        await store.ensure_collection()
        return store

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        api_key: str | None,
        timeout_s: float,
        collection_prefix: str,
        model: str,
        dimension: int,
        fusion: FusionMethod = "dbsf",
    ) -> QdrantServerStore:
        """Connect to the server at ``url`` and open ``<prefix>_<model>_<dim>``."""
        client = AsyncQdrantClient(url=url, api_key=api_key, timeout=max(1, round(timeout_s)))
        name = physical_name(collection_prefix, model, dimension)
        try:
            return await cls.open(client, collection_name=name, dimension=dimension, fusion=fusion)
        except BaseException:
            await client.close()
            raise

    async def _call(self, awaitable: Awaitable[T]) -> T:
        """Await one client call, mapping transport failures to Unavailable."""
        try:
            return await awaitable
        except Exception as exc:
            if _is_io(exc):
                raise _unavailable(exc) from exc
            raise

    async def ensure_collection(self) -> None:
        """Create the collection (dense + bm25) and payload indexes; check the dimension."""
        name = self.collection_name
        if not await self._call(self.client.collection_exists(name)):
            try:
                await self._call(
                    self.client.create_collection(
                        name,
                        vectors_config={
                            DENSE: models.VectorParams(
                                size=self.dimension, distance=models.Distance.COSINE
                            )
                        },
                        sparse_vectors_config={
                            SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)
                        },
                    )
                )
            except UnexpectedResponse as exc:  # pragma: no cover - a racing creator
                if exc.status_code != 409:
                    raise
        info = await self._call(self.client.get_collection(name))
        vectors = info.config.params.vectors
        size = vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None
        if size != self.dimension:
            raise StartupError(
                f"Qdrant collection {name} holds {size}-d dense vectors, not {self.dimension}-d"
            )
        if not self.local:  # local mode ignores payload indexes (and warns)
            for field, schema in _INDEXES.items():
                await self._call(
                    self.client.create_payload_index(name, field, field_schema=schema, wait=True)
                )

    def _points(self, chunks: Sequence[ChunkRecord]) -> list[models.PointStruct]:
        points = []
        for chunk in chunks:
            vector: dict[str, Any] = {DENSE: dense_values(chunk, self.dimension)}
            terms = self._encoder.document(chunk.indexed_text)
            if terms:
                vector[SPARSE] = _sparse(terms)
            points.append(
                models.PointStruct(
                    id=str(point_id(chunk.tenant_id, chunk.id)),
                    vector=vector,
                    payload=chunk_payload(chunk),
                )
            )
        return points

    async def upsert(self, *, tenant_id: str, chunks: Sequence[ChunkRecord]) -> None:
        """Insert or replace chunks by id (idempotent), in batches."""
        check_tenant(tenant_id, chunks)
        points = await asyncio.to_thread(self._points, chunks)
        for start in range(0, len(points), self.batch_size):
            batch = points[start : start + self.batch_size]
            await self._call(self.client.upsert(self.collection_name, batch, wait=True))

    async def _delete(self, where: models.Filter) -> None:
        selector = models.FilterSelector(filter=where)
        await self._call(self.client.delete(self.collection_name, selector, wait=True))

    async def delete_document(
        self, *, tenant_id: str, document_id: str, except_version: int | None = None
    ) -> None:
        """Delete a document's chunks (all, or all but those of ``except_version``)."""
        where = _tenant(tenant_id, _match("document_id", document_id))
        if except_version is not None:
            where.must_not = [_match("document_version", except_version)]
        await self._delete(where)

    async def delete_collection(self, *, tenant_id: str, collection_id: str) -> None:
        """Delete every chunk of a collection."""
        await self._delete(_tenant(tenant_id, _match("collection_id", collection_id)))

    async def delete_tenant(self, *, tenant_id: str) -> None:
        """Delete every chunk of a tenant."""
        await self._delete(_tenant(tenant_id))

    async def set_document_metadata(
        self, *, tenant_id: str, document_id: str, metadata: dict[str, Any]
    ) -> None:
        """Replace the ``metadata`` payload of a document's chunks."""
        where = _tenant(tenant_id, _match("document_id", document_id))
        await self._call(
            self.client.set_payload(
                self.collection_name,
                payload={"metadata": jsonable(metadata)},
                points=models.FilterSelector(filter=where),
                wait=True,
            )
        )

    async def count(
        self, *, tenant_id: str, collection_id: str | None = None, document_id: str | None = None
    ) -> int:
        """Chunks of the tenant, optionally of one collection or document."""
        extra: list[models.Condition] = []
        if collection_id is not None:
            extra.append(_match("collection_id", collection_id))
        if document_id is not None:
            extra.append(_match("document_id", document_id))
        result = await self._call(
            self.client.count(self.collection_name, _tenant(tenant_id, *extra), exact=True)
        )
        return result.count

    async def list_chunks(
        self, *, tenant_id: str, document_id: str, version: int, offset: int, limit: int
    ) -> list[VectorHit]:
        """A document version's chunks ordered by ``chunk_index``, from ``offset``."""
        if limit <= 0 or offset < 0:
            return []
        where = _tenant(
            tenant_id, _match("document_id", document_id), _match("document_version", version)
        )
        records, _ = await self._call(
            self.client.scroll(
                self.collection_name,
                scroll_filter=where,
                limit=offset + limit,
                order_by=models.OrderBy(key="chunk_index", direction=models.Direction.ASC),
                with_payload=True,
                with_vectors=False,
            )
        )
        return [to_hit(0.0, record.payload) for record in records[offset:]]

    async def export_chunks(
        self, *, tenant_id: str, batch_size: int = UPSERT_BATCH
    ) -> AsyncIterator[list[ChunkRecord]]:
        """Every chunk of the tenant with its dense vector, in point-id order, in batches."""
        if batch_size <= 0:
            raise ValueError("batch_size must be positive")
        where = _tenant(tenant_id)
        offset: models.ExtendedPointId | None = None
        while True:
            records, offset = await self._call(
                self.client.scroll(
                    self.collection_name,
                    scroll_filter=where,
                    limit=batch_size,
                    offset=offset,
                    with_payload=True,
                    with_vectors=[DENSE],
                )
            )
            if records:
                yield [to_record(r.payload, named_dense(r.vector)) for r in records]
            if offset is None:
                return

    async def search(
        self,
        *,
        tenant_id: str,
        collection_ids: Sequence[str],
        query_text: str,
        query_dense: Sequence[float] | None,
        mode: SearchMode,
        limit: int,
        filter: MetadataFilter | None = None,
    ) -> list[VectorHit]:
        """Best chunks of the given collections matching ``filter``; hybrid fuses in the engine."""
        if not collection_ids or limit <= 0:
            return []
        extra = [] if filter is None else [qdrant_condition(filter)]
        where = _tenant(
            tenant_id,
            models.FieldCondition(
                key="collection_id", match=models.MatchAny(any=list(collection_ids))
            ),
            *extra,
        )
        idf = models.SearchParams(idf=models.IdfCorpusParams(corpus=_tenant(tenant_id)))
        dense = None if query_dense is None else [float(v) for v in query_dense]
        terms = self._encoder.query(query_text) if mode != "dense" else None
        kwargs: dict[str, Any]
        if mode == "dense":
            if dense is None:
                raise ValueError("a dense search needs query_dense")
            kwargs = {"query": dense, "using": DENSE}
        elif mode == "keyword":
            if not terms:
                return []
            kwargs = {"query": _sparse(terms), "using": SPARSE, "search_params": idf}
        else:
            depth = search_depth(limit)
            prefetch = []
            if dense is not None:
                prefetch.append(
                    models.Prefetch(query=dense, using=DENSE, limit=depth, filter=where)
                )
            if terms:
                prefetch.append(
                    models.Prefetch(
                        query=_sparse(terms), using=SPARSE, limit=depth, filter=where, params=idf
                    )
                )
            if not prefetch:
                return []
            fused: models.Query = (
                models.FusionQuery(fusion=models.Fusion.DBSF)
                if self.fusion == "dbsf"
                else models.RrfQuery(rrf=models.Rrf(k=RRF_K))
            )
            kwargs = {"prefetch": prefetch, "query": fused}
        response = await self._call(
            self.client.query_points(
                self.collection_name, query_filter=where, limit=limit, with_payload=True, **kwargs
            )
        )
        return [to_hit(point.score, point.payload) for point in response.points]

    async def ping(self) -> None:
        """Raise Unavailable when the server or the collection cannot serve."""
        await self._call(self.client.get_collection(self.collection_name))

    async def close(self) -> None:
        """Close the client's connections."""
        await self.client.close()
