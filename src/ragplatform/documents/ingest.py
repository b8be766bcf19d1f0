"""The ingestion job: parse -> chunk -> embed -> upsert, then switch versions atomically."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from typing import Any

from sqlalchemy import update

from ragplatform.documents.chunking import chunk_document, chunk_id
from ragplatform.documents.collections import bump_collection
from ragplatform.documents.context import context_header
from ragplatform.documents.models import Document
from ragplatform.documents.parsed import Chunk, UnreadableDocument
from ragplatform.documents.parsers import parse
from ragplatform.jobs import service as jobs
from ragplatform.jobs.models import Job
from ragplatform.jobs.runner import JobCancelled, JobContext, PermanentJobError
from ragplatform.observability.logging import get_logger
from ragplatform.ports import CONTEXT_KEY, ChunkRecord

EMBED_BATCH = 64
UPSERT_BATCH = 256
_log = get_logger("ragplatform.ingest")


class _Stage:
    """Times a pipeline stage into the stage-latency histogram."""

    def __init__(self, ctx: JobContext, name: str) -> None:
        self.ctx, self.name = ctx, name

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        if self.ctx.metrics is not None:
            self.ctx.metrics.observe_stage(self.name, time.perf_counter() - self.started)


async def _mark(ctx: JobContext, document_id: uuid.UUID, version: int, **values: Any) -> None:
    async with ctx.db.session() as session:
        await session.execute(
            update(Document)
            .where(Document.id == document_id, Document.version == version)
            .values(**values)
        )
        await session.commit()


async def _check_cancel(ctx: JobContext, job: Job) -> None:
    async with ctx.db.session() as session:
        if await jobs.is_cancelled(session, job.id):
            raise JobCancelled


async def run_ingestion(ctx: JobContext, job: Job) -> None:
    """Job handler for ``document.ingest``; idempotent (deterministic chunk ids)."""
    document_id = uuid.UUID(job.payload["document_id"])
    version = int(job.payload["version"])
    async with ctx.db.session() as session:
        doc = await session.get(Document, document_id)
        if doc is None or doc.version != version:
            return  # deleted, or superseded by a newer upload/reindex
        doc.status = "processing"
        await session.commit()
        tenant_id, collection_id = doc.tenant_id, doc.collection_id
        meta: dict[str, Any] = {
            "title": doc.title,
            "source": doc.source,
            "metadata": dict(doc.doc_metadata),
        }
        sha256, mime, source = doc.sha256, doc.mime, doc.source
    try:
        title, chunks = await _parse_and_chunk(ctx, tenant_id, sha256, mime, source)
        await _check_cancel(ctx, job)
        drafts = [
            ChunkRecord(
                id=chunk_id(str(document_id), version, chunk.index),
                tenant_id=str(tenant_id),
                collection_id=str(collection_id),
                document_id=str(document_id),
                document_version=version,
                chunk_index=chunk.index,
                text=chunk.text,
                dense=(),
                payload={
                    **meta,
                    "page": chunk.page,
                    "heading_path": list(chunk.heading_path),
                    "token_count": chunk.token_count,
                    CONTEXT_KEY: context_header(title, chunk.heading_path),
                },
            )
            for chunk in chunks
        ]
        vectors = await _embed(ctx, job, [draft.indexed_text for draft in drafts])
        records = [
            dataclasses.replace(draft, dense=vector)
            for draft, vector in zip(drafts, vectors, strict=True)
        ]
        with _Stage(ctx, "upsert"):
            for start in range(0, len(records), UPSERT_BATCH):
                await ctx.vectors.upsert(
                    tenant_id=str(tenant_id), chunks=records[start : start + UPSERT_BATCH]
                )
    except JobCancelled:
        await _mark(ctx, document_id, version, status="failed", error="ingestion was cancelled")
        raise
    except PermanentJobError as exc:
        await _mark(ctx, document_id, version, status="failed", error=str(exc))
        _count(ctx, "failed")
        raise
    except Exception:
        if job.attempts >= job.max_attempts:
            await _mark(
                ctx, document_id, version, status="failed", error="ingestion failed repeatedly"
            )
            _count(ctx, "failed")
        raise
    await _switch_version(
        ctx,
        document_id=document_id,
        collection_id=collection_id,
        tenant_id=tenant_id,
        version=version,
        chunk_count=len(records),
        indexed_metadata=meta["metadata"],
    )


async def _parse_and_chunk(
    ctx: JobContext, tenant_id: uuid.UUID, sha256: str, mime: str, source: str
) -> tuple[str | None, list[Chunk]]:
    """The document's own title (from its content) and its chunks."""
    try:
        data = await ctx.originals.read(tenant_id, sha256)
    except FileNotFoundError:
        raise PermanentJobError("the stored original file is missing; upload it again") from None
    try:
        with _Stage(ctx, "parse"):
            parsed = await asyncio.to_thread(parse, data, mime, filename=source)
        with _Stage(ctx, "chunk"):
            chunks = await asyncio.to_thread(
                chunk_document,
                parsed,
                count_tokens=ctx.embedder.count_tokens,
                size=ctx.settings.ingestion.chunk_size_tokens,
                overlap=ctx.settings.ingestion.chunk_overlap_tokens,
            )
    except UnreadableDocument as exc:
        raise PermanentJobError(exc.detail) from None
    if not chunks:
        raise PermanentJobError("the document contains no text")
    return parsed.title, list(chunks)


async def _embed(ctx: JobContext, job: Job, texts: list[str]) -> list[list[float]]:
    vectors: list[list[float]] = []
    with _Stage(ctx, "embed"):
        for start in range(0, len(texts), EMBED_BATCH):
            vectors += await ctx.embedder.embed_documents(texts[start : start + EMBED_BATCH])
            if len(texts) > EMBED_BATCH:
                await _check_cancel(ctx, job)
                async with ctx.db.session() as session:
                    await jobs.set_progress(session, job.id, 0.9 * len(vectors) / len(texts))
    return vectors


async def _switch_version(
    ctx: JobContext,
    *,
    document_id: uuid.UUID,
    collection_id: uuid.UUID,
    tenant_id: uuid.UUID,
    version: int,
    chunk_count: int,
    indexed_metadata: dict[str, Any],
) -> None:
    """Point the document at the new chunks in one commit, then drop the old ones."""
    async with ctx.db.session() as session:
        doc = await session.get(Document, document_id)
        if doc is None:  # deleted while we worked: remove what we wrote
            await ctx.vectors.delete_document(
                tenant_id=str(tenant_id), document_id=str(document_id)
            )
            return
        if doc.version != version:
            return  # a newer version is queued; its job cleans up
        doc.status, doc.error = "ready", None
        doc.indexed_version, doc.chunk_count = version, chunk_count
        if dict(doc.doc_metadata) != indexed_metadata:  # PATCHed while this version was built
            await ctx.vectors.set_document_metadata(
                tenant_id=str(tenant_id),
                document_id=str(document_id),
                metadata=dict(doc.doc_metadata),
            )
        await bump_collection(session, collection_id)
        await session.commit()
    await ctx.vectors.delete_document(
        tenant_id=str(tenant_id), document_id=str(document_id), except_version=version
    )
    _count(ctx, "ready", chunk_count)
    _log.info("document_indexed", document_id=str(document_id), version=version, chunks=chunk_count)


def _count(ctx: JobContext, outcome: str, chunks: int = 0) -> None:
    if ctx.metrics is not None:
        ctx.metrics.count_document(outcome, chunks)
