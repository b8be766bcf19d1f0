"""VectorStore on an embedded Qdrant Edge shard (one per embedding model and dimension).

Every engine call holds the GIL and the shard is one object, so calls run one at a time on a
single worker thread; large upserts are split so searches can interleave with ingestion.
``list_chunks`` lets the engine order by ``chunk_index`` (integer range index) and slices the
first ``offset + limit`` points: exact positional paging, linear in the offset, and a
document's chunk count is bounded by the upload size limit.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from qdrant_edge import (
    CountRequest,
    Direction,
    EdgeConfig,
    EdgeOptimizersConfig,
    EdgeShard,
    EdgeSparseVectorParams,
    EdgeVectorParams,
    FieldCondition,
    Filter,
    Fusion,
    IdfParams,
    KeywordIndexParams,
    MatchAny,
    MatchValue,
    Modifier,
    OrderBy,
    PayloadSchemaType,
    Point,
    Prefetch,
    Query,
    QueryRequest,
    ScrollRequest,
    SearchParams,
    SparseVector,
    UpdateOperation,
)
from qdrant_edge import Distance as EdgeDistance

from ragplatform.adapters.vectorstores.bm25 import Bm25Encoder, SparseTerms, check_sparse
from ragplatform.adapters.vectorstores.edge_filters import EdgeCondition, edge_condition
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
from ragplatform.errors import StartupError, Unavailable
from ragplatform.ports import ChunkRecord, SearchMode, VectorHit

if TYPE_CHECKING:
    from ragplatform.retrieval.filters import MetadataFilter

T = TypeVar("T")
_RUNTIME = "Service runtime error"
_INDEXES: dict[str, Any] = {
    "tenant_id": KeywordIndexParams(is_tenant=True),
    "collection_id": PayloadSchemaType.Keyword,
    "document_id": PayloadSchemaType.Keyword,
    "document_version": PayloadSchemaType.Integer,
    "chunk_index": PayloadSchemaType.Integer,
}


def _is_io(exc: Exception) -> bool:
    """Engine failures worth a retry (I/O, closed shard); validation errors are bugs."""
    return isinstance(exc, OSError) or (type(exc) is Exception and str(exc).startswith(_RUNTIME))


def _match(key: str, value: str | int) -> FieldCondition:
    return FieldCondition(key, match=MatchValue(value))


def _tenant(tenant_id: str, *extra: EdgeCondition) -> Filter:
    if not tenant_id:
        raise ValueError("tenant_id must not be empty")
    return Filter(must=[_match("tenant_id", tenant_id), *extra])


def _sparse(terms: SparseTerms) -> SparseVector:
    """An engine sparse vector, re-checked: a length mismatch would panic inside the engine."""
    check_sparse(terms.indices, terms.values)
    return SparseVector(list(terms.indices), list(terms.values))


def _config(dimension: int, indexing_threshold_kb: int) -> EdgeConfig:
    return EdgeConfig(
        vectors={DENSE: EdgeVectorParams(size=dimension, distance=EdgeDistance.Cosine)},
        sparse_vectors={SPARSE: EdgeSparseVectorParams(modifier=Modifier.Idf)},
        optimizers=EdgeOptimizersConfig(indexing_threshold=indexing_threshold_kb),
    )


def _open_shard(path: Path, config: EdgeConfig) -> EdgeShard:
    """Load the shard at ``path`` (or create it), turning lock and config clashes into one line."""
    try:
        if (path / "edge_config.json").exists():
            return EdgeShard.load(str(path), config)
        path.mkdir(parents=True, exist_ok=True)
        return EdgeShard.create(str(path), config)
    except Exception as exc:
        text = str(exc)
        if "WouldBlock" in text or "failed to open WAL" in text:
            message = f"the vector data under {path} is in use by another ragplatform process"
        elif "incompatible" in text:
            message = f"the vector data under {path} does not fit this embedding model: {text}"
        else:
            message = f"cannot open the vector data under {path}: {text}"
        raise StartupError(message) from exc


class QdrantEdgeStore:
    """Chunks of every tenant in one embedded shard; each call filters by ``tenant_id``."""

    def __init__(
        self,
        shard: EdgeShard,
        *,
        path: Path,
        dimension: int,
        encoder: Bm25Encoder | None = None,
        batch_size: int = UPSERT_BATCH,
        fusion: FusionMethod = "dbsf",
    ) -> None:
        self.path = path
        self.fusion = fusion
        self.dimension = dimension
        self.batch_size = batch_size
        self._shard = shard
        self._encoder = encoder or Bm25Encoder()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qdrant-edge")
        self._closed = False

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        dimension: int,
        indexing_threshold_kb: int,
        fusion: FusionMethod = "dbsf",
    ) -> QdrantEdgeStore:
        """Create or load the shard at ``path`` and its payload indexes."""
        shard = _open_shard(path, _config(dimension, indexing_threshold_kb))
        try:
            existing = set(shard.info().payload_schema)
            for field, schema in _INDEXES.items():
                if field not in existing:
                    shard.update(UpdateOperation.create_field_index(field, schema))
        except Exception:
            shard.close()
            raise
        return cls(shard, path=path, dimension=dimension, fusion=fusion)

    @staticmethod
    def path_for(data_dir: Path, *, collection_prefix: str, model: str, dimension: int) -> Path:
        """``<data_dir>/vectors/qdrant-edge/<prefix>_<model>_<dim>``."""
        name = physical_name(collection_prefix, model, dimension)
        return data_dir / "vectors" / "qdrant-edge" / name

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one engine call on the store's single worker thread."""
        if self._closed:
            raise Unavailable("the vector store is closed", code="vector_store_unavailable")
        return await self._submit(functools.partial(fn, *args, **kwargs))

    async def _submit(self, call: Callable[[], T]) -> T:
        """Queue ``call`` behind the earlier ones; engine I/O failures become Unavailable."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except Exception as exc:
            if _is_io(exc):
                raise Unavailable(
                    "the vector store is unavailable", code="vector_store_unavailable"
                ) from exc
            raise

    def _points(self, chunks: Sequence[ChunkRecord]) -> list[Point]:
        points = []
        for chunk in chunks:
            vectors: dict[str, Any] = {DENSE: dense_values(chunk, self.dimension)}
            terms = self._encoder.document(chunk.indexed_text)
            if terms:
                vectors[SPARSE] = _sparse(terms)
            points.append(Point(point_id(chunk.tenant_id, chunk.id), vectors, chunk_payload(chunk)))
        return points

    def _update(self, operation: UpdateOperation) -> None:
        self._shard.update(operation)

    async def upsert(self, *, tenant_id: str, chunks: Sequence[ChunkRecord]) -> None:
        """Insert or replace chunks by id (idempotent)."""
        check_tenant(tenant_id, chunks)
        points = await self._run(self._points, chunks)
        for start in range(0, len(points), self.batch_size):
            batch = points[start : start + self.batch_size]
            await self._run(self._update, UpdateOperation.upsert_points(batch))

    async def _delete(self, where: Filter) -> None:
        await self._run(self._update, UpdateOperation.delete_points_by_filter(where))

    async def delete_document(
        self, *, tenant_id: str, document_id: str, except_version: int | None = None
    ) -> None:
        """Delete a document's chunks (all, or all but those of ``except_version``)."""
        where = _tenant(tenant_id, _match("document_id", document_id))
        if except_version is not None:
            where = Filter(must=[where], must_not=[_match("document_version", except_version)])
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
        operation = UpdateOperation.set_payload_by_filter(where, {"metadata": jsonable(metadata)})
        await self._run(self._update, operation)

    async def count(
        self, *, tenant_id: str, collection_id: str | None = None, document_id: str | None = None
    ) -> int:
        """Chunks of the tenant, optionally of one collection or document."""
        extra = []
        if collection_id is not None:
            extra.append(_match("collection_id", collection_id))
        if document_id is not None:
            extra.append(_match("document_id", document_id))
        request = CountRequest(exact=True, filter=_tenant(tenant_id, *extra))
        return await self._run(self._shard.count, request)

    async def list_chunks(
        self, *, tenant_id: str, document_id: str, version: int, offset: int, limit: int
    ) -> list[VectorHit]:
        """A document version's chunks ordered by ``chunk_index``, from ``offset``."""
        if limit <= 0 or offset < 0:
            return []
        request = ScrollRequest(
            limit=offset + limit,
            filter=_tenant(
                tenant_id, _match("document_id", document_id), _match("document_version", version)
            ),
            with_payload=True,
            with_vector=False,
            order_by=OrderBy("chunk_index", Direction.Asc),
        )
        records, _ = await self._run(self._shard.scroll, request)
        return [to_hit(0.0, record.payload) for record in records[offset:]]

    async def export_chunks(
        self, *, tenant_id: str, batch_size: int = UPSERT_BATCH
    ) -> AsyncIterator[list[ChunkRecord]]:
        """Every chunk of the tenant with its dense vector, in point-id order, in batches."""
        if batch_size <= 0:
            raise ValueError("batch_size must be positive")
        where = _tenant(tenant_id)
        offset: Any = None
        while True:
            request = ScrollRequest(
                offset=offset,
                limit=batch_size,
                filter=where,
                with_payload=True,
                with_vector=[DENSE],
            )
            records, offset = await self._run(self._shard.scroll, request)
            if records:
                yield [to_record(r.payload, named_dense(r.vector)) for r in records]
            if offset is None:
                return

    def _request(
        self,
        *,
        tenant_id: str,
        collection_ids: Sequence[str],
        query_text: str,
        query_dense: Sequence[float] | None,
        mode: SearchMode,
        limit: int,
        filter: MetadataFilter | None,
    ) -> QueryRequest | None:
        """The engine query for a search, or None when nothing can match."""
        extra = [] if filter is None else [edge_condition(filter)]
        where = _tenant(
            tenant_id, FieldCondition("collection_id", match=MatchAny(list(collection_ids))), *extra
        )
        idf = SearchParams(idf=IdfParams(corpus=_tenant(tenant_id)))
        dense = None if query_dense is None else [float(v) for v in query_dense]
        terms = self._encoder.query(query_text) if mode != "dense" else None
        if mode == "dense":
            if dense is None:
                raise ValueError("a dense search needs query_dense")
            query = Query.Nearest(dense, using=DENSE)
            return QueryRequest(limit=limit, query=query, filter=where, with_payload=True)
        if mode == "keyword":
            if not terms:
                return None
            query = Query.Nearest(_sparse(terms), using=SPARSE)
            return QueryRequest(
                limit=limit, query=query, filter=where, params=idf, with_payload=True
            )
        depth = search_depth(limit)
        prefetches = []
        if dense is not None:
            prefetches.append(
                Prefetch(limit=depth, query=Query.Nearest(dense, using=DENSE), filter=where)
            )
        if terms:
            sparse = Query.Nearest(_sparse(terms), using=SPARSE)
            prefetches.append(Prefetch(limit=depth, query=sparse, filter=where, params=idf))
        if not prefetches:
            return None
        return QueryRequest(
            limit=limit,
            prefetches=prefetches,
            query=self._fusion(),
            filter=where,
            with_payload=True,
        )

    def _fusion(self) -> Any:
        """The engine's fusion query (the stubs omit Fusion's variants, hence Any)."""
        fusion: Any = Fusion
        return fusion.Dbsf() if self.fusion == "dbsf" else fusion.Rrf(k=RRF_K)

    def _search(self, **kwargs: Any) -> list[VectorHit]:
        request = self._request(**kwargs)
        if request is None:
            return []
        return [to_hit(point.score, point.payload) for point in self._shard.query(request)]

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
        return await self._run(
            self._search,
            tenant_id=tenant_id,
            collection_ids=list(collection_ids),
            query_text=query_text,
            query_dense=query_dense,
            mode=mode,
            limit=limit,
            filter=filter,
        )

    async def optimize(self) -> bool:
        """Build HNSW and merge segments (blocks every Python thread; not for the request path)."""
        return await self._run(self._shard.optimize)

    async def ping(self) -> None:
        """Raise Unavailable when the shard cannot serve."""
        await self._run(self._shard.info)

    def _close(self) -> None:
        try:
            self._shard.flush()
        finally:
            self._shard.close()

    async def close(self) -> None:
        """Flush and release the shard's lock after the calls already queued; refuse new ones."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._submit(self._close)
        finally:
            self._executor.shutdown(wait=False)
