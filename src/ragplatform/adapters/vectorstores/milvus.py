"""VectorStore on Milvus: a Milvus Lite file under the data dir, or a Milvus server.

Layout (:mod:`.milvus_schema`): one collection per embedding model and dimension, ``tenant_id``
as the partition key and in every expression, a stable primary key from (tenant, chunk id)
(:func:`.layout.point_id`) so re-upserts replace, BM25 computed by Milvus' BM25 function,
metadata filters over a derived ``terms`` field (:mod:`.milvus_filters`).

Deliberate differences from the Qdrant adapters (README, "Choosing a vector backend"):

* Hybrid search is always fused by RRF (k=60) in the engine; Milvus has no DBSF, so
  ``RAG_VECTOR__FUSION=dbsf`` does not apply (``fusion`` is always ``"rrf"``).
* BM25 statistics (IDF, average length) are the engine's: collection-wide on a server, per
  segment on Milvus Lite, not per tenant. Another tenant's writes can nudge keyword scores
  (in close cases their order), never which chunks a tenant sees.
* Keyword scores are Milvus' BM25 (its own k1/b and average length), not Qdrant's.
* Chunk text is a VARCHAR: at most 65,535 UTF-8 bytes (longer chunks are refused).
* Ranges over a list value test its first 8 numbers or dates (Qdrant: all of them).
* Milvus Lite does not stem (:mod:`.milvus_schema`) and has no filter templating: values
  are written there as escaped literals (:func:`.milvus_filters.render`).

Milvus Lite serves one process (:mod:`.milvus_engine`: a second opener is refused in one
line). Lite calls run one at a time on a worker thread; server calls run on a small thread
pool (the gRPC client is thread-safe).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import grpc  # type: ignore[import-untyped]
from pymilvus import MilvusException  # type: ignore[import-untyped]

from ragplatform.adapters.vectorstores import milvus_engine
from ragplatform.adapters.vectorstores.layout import (
    DENSE,
    SPARSE,
    UPSERT_BATCH,
    check_tenant,
    jsonable,
    physical_name,
    search_depth,
    to_hit,
    to_record,
)
from ragplatform.adapters.vectorstores.milvus_collection import MilvusCollection, Row
from ragplatform.adapters.vectorstores.milvus_engine import is_io, unavailable
from ragplatform.adapters.vectorstores.milvus_filters import (
    TERMS,
    Expr,
    filter_terms,
    metadata_expr,
)
from ragplatform.adapters.vectorstores.milvus_schema import (
    KEYWORD_TEXT,
    LAYOUT_FIELDS,
    PK,
    row_payload,
    to_row,
)
from ragplatform.errors import Unavailable
from ragplatform.ports import ChunkRecord, SearchMode, VectorHit

if TYPE_CHECKING:
    from ragplatform.retrieval.filters import MetadataFilter

T = TypeVar("T")
_ROW_FIELDS = (PK, *LAYOUT_FIELDS, KEYWORD_TEXT, DENSE)


def _where(tenant_id: str, **equal: str | int) -> Expr:
    """The tenant's expression, plus equality on layout fields."""
    if not tenant_id:
        raise ValueError("tenant_id must not be empty")
    expr = Expr()
    expr.add(f"tenant_id == {expr.value(tenant_id)}")
    for name, value in equal.items():
        expr.add(f"{name} == {expr.value(value)}")
    return expr


class MilvusStore:
    """Chunks of every tenant in one Milvus collection; each call filters by ``tenant_id``."""

    fusion = "rrf"  # the only hybrid fusion Milvus offers (see the module docstring)

    def __init__(
        self, collection: MilvusCollection, *, dimension: int, batch_size: int = UPSERT_BATCH
    ) -> None:
        self.collection = collection
        self.dimension = dimension
        self.batch_size = batch_size
        workers = 1 if collection.lite_path is not None else 8
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="milvus")
        self._closed = False

    @property
    def lite_path(self) -> Path | None:
        """The Milvus Lite file, or None on a server."""
        return self.collection.lite_path

    @staticmethod
    def path_for(data_dir: Path, *, collection_prefix: str) -> Path:
        """``<data_dir>/milvus/<prefix>.db``: one Milvus Lite file per deployment."""
        return data_dir / "milvus" / f"{collection_prefix}.db"

    @classmethod
    def open_lite(cls, path: Path, *, collection_name: str, dimension: int) -> MilvusStore:
        """Open (or create) the Milvus Lite file at ``path`` and the collection in it."""
        client, lock = milvus_engine.open_lite(path)
        collection = MilvusCollection(client, collection_name, lite_path=path, lock=lock)
        try:
            collection.ensure(dimension)
        except BaseException:
            collection.close()
            raise
        return cls(collection, dimension=dimension)

    @classmethod
    async def connect(
        cls,
        uri: str,
        *,
        token: str | None,
        timeout_s: float,
        collection_prefix: str,
        model: str,
        dimension: int,
    ) -> MilvusStore:
        """Connect to the Milvus server at ``uri`` and open ``<prefix>_<model>_<dim>``."""
        client = await asyncio.to_thread(
            milvus_engine.connect, uri, token=token, timeout_s=timeout_s
        )
        name = physical_name(collection_prefix, model, dimension)
        store = cls(MilvusCollection(client, name, timeout_s=timeout_s), dimension=dimension)
        try:
            await store._run(store.collection.ensure, dimension)
        except BaseException:
            await store.close()
            raise
        return store

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run one engine call on the store's threads; transport failures become Unavailable."""
        if self._closed:
            raise Unavailable("the vector store is closed", code="vector_store_unavailable")
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, functools.partial(fn, *args)
            )
        except (MilvusException, grpc.RpcError, OSError) as exc:
            if is_io(exc):
                raise unavailable(exc) from exc
            raise

    async def _upsert_rows(self, rows: Sequence[Row]) -> None:
        for start in range(0, len(rows), self.batch_size):
            await self._run(self.collection.upsert, list(rows[start : start + self.batch_size]))
        if rows:
            await self._run(self.collection.settle)

    async def upsert(self, *, tenant_id: str, chunks: Sequence[ChunkRecord]) -> None:
        """Insert or replace chunks by id (idempotent), in batches; rows are checked first."""
        check_tenant(tenant_id, chunks)
        await self._upsert_rows([to_row(chunk, self.dimension) for chunk in chunks])

    async def delete_document(
        self, *, tenant_id: str, document_id: str, except_version: int | None = None
    ) -> None:
        """Delete a document's chunks (all, or all but those of ``except_version``)."""
        expr = _where(tenant_id, document_id=document_id)
        if except_version is not None:
            expr.add(f"document_version != {expr.value(int(except_version))}")
        await self._run(self.collection.delete, expr)

    async def delete_collection(self, *, tenant_id: str, collection_id: str) -> None:
        """Delete every chunk of a collection."""
        await self._run(self.collection.delete, _where(tenant_id, collection_id=collection_id))

    async def delete_tenant(self, *, tenant_id: str) -> None:
        """Delete every chunk of a tenant."""
        await self._run(self.collection.delete, _where(tenant_id))

    async def set_document_metadata(
        self, *, tenant_id: str, document_id: str, metadata: dict[str, Any]
    ) -> None:
        """Replace the ``metadata`` payload of a document's chunks (rows are rewritten)."""
        value = jsonable(metadata)
        expr = _where(tenant_id, document_id=document_id)
        rows = await self._run(self.collection.rows, expr, _ROW_FIELDS)
        for row in rows:
            row["payload"] = {**(row.get("payload") or {}), "metadata": value}
            row[TERMS] = filter_terms(value)
            row[DENSE] = [float(v) for v in row[DENSE]]
        await self._upsert_rows(rows)

    async def count(
        self, *, tenant_id: str, collection_id: str | None = None, document_id: str | None = None
    ) -> int:
        """Chunks of the tenant, optionally of one collection or document."""
        equal = {"collection_id": collection_id, "document_id": document_id}
        expr = _where(tenant_id, **{k: v for k, v in equal.items() if v is not None})
        return await self._run(self.collection.count, expr)

    async def list_chunks(
        self, *, tenant_id: str, document_id: str, version: int, offset: int, limit: int
    ) -> list[VectorHit]:
        """A document version's chunks ordered by ``chunk_index``, from ``offset``.

        The keys of the version's chunks are read first, then the page's rows only.
        """
        if limit <= 0 or offset < 0:
            return []
        expr = _where(tenant_id, document_id=document_id, document_version=int(version))
        keys = await self._run(self.collection.rows, expr, (PK, "chunk_index"))
        keys.sort(key=lambda row: (row["chunk_index"], row[PK]))
        page = [row[PK] for row in keys[offset : offset + limit]]
        if not page:
            return []
        expr.add(f"{PK} in {expr.value(page)}")
        rows = await self._run(self.collection.query, expr, LAYOUT_FIELDS)
        rows.sort(key=lambda row: (row["chunk_index"], row[PK]))
        return [to_hit(0.0, row_payload(row)) for row in rows]

    async def export_chunks(
        self, *, tenant_id: str, batch_size: int = 256
    ) -> AsyncIterator[list[ChunkRecord]]:
        """Every stored chunk of the tenant, in batches, as upserted: dense vector and payload."""
        iterator = await self._run(self.collection.scan, _where(tenant_id), _ROW_FIELDS, batch_size)
        try:
            while batch := await self._run(iterator.next):
                yield [to_record(row_payload(row), row[DENSE]) for row in batch]
        finally:
            with contextlib.suppress(Exception):
                await self._run(iterator.close)

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
        """Best chunks of the given collections matching ``filter``; hybrid fuses by RRF."""
        if not collection_ids or limit <= 0:
            return []
        where = _where(tenant_id)
        where.add(f"collection_id in {where.value(list(collection_ids))}")
        if filter is not None:
            where.add(metadata_expr(filter, where))
        dense = None if query_dense is None else [float(v) for v in query_dense]
        keywords = query_text if mode != "dense" and query_text.strip() else None
        hits: list[Row] = []
        if mode == "dense":
            if dense is None:
                raise ValueError("a dense search needs query_dense")
            hits = await self._run(self.collection.search, DENSE, dense, where, limit)
        elif mode == "keyword":
            if keywords is not None:
                hits = await self._run(self.collection.search, SPARSE, keywords, where, limit)
        else:
            depth = search_depth(limit)
            hits = await self._run(self.collection.hybrid, dense, keywords, where, limit, depth)
        # Milvus answers cosine similarity and BM25 as is; Milvus Lite negates BM25.
        return [to_hit(abs(hit["distance"]), row_payload(hit["entity"])) for hit in hits]

    async def ping(self) -> None:
        """Raise Unavailable when the engine or the collection cannot serve."""
        await self._run(self.collection.ping)

    async def close(self) -> None:
        """Release the client (and the Milvus Lite file) after queued calls; refuse new ones."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self.collection.close)
        finally:
            self._executor.shutdown(wait=False)
