"""Documents: upload (dedup, replace), list, read, chunks, metadata, delete, reindex."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ragplatform.db.pagination import Page, paginate
from ragplatform.documents.collections import (
    bump_collection,
    readable_collection,
    writable_collection,
)
from ragplatform.documents.models import Collection, Document
from ragplatform.documents.schemas import ChunkOut, ChunkPage, UploadedDocument
from ragplatform.documents.sniff import sanitize_filename, sniff
from ragplatform.documents.storage import OriginalStore
from ragplatform.errors import Conflict, NotFound, PayloadTooLarge
from ragplatform.jobs import service as jobs
from ragplatform.ports import JobQueue, VectorStore
from ragplatform.settings import Settings
from ragplatform.tenancy import audit
from ragplatform.tenancy.models import Tenant
from ragplatform.tenancy.principal import Principal
from ragplatform.tenancy.quotas import Usage, check_quota
from ragplatform.tenancy.roles import Role

INGEST_JOB = "document.ingest"


@dataclass(frozen=True)
class NewDocument:
    """One file (or text) of an upload request, before validation."""

    data: bytes
    filename: str | None = None
    title: str | None = None
    mime: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Checked:
    item: NewDocument
    source: str
    mime: str
    sha256: str


def _check(item: NewDocument, max_bytes: int) -> _Checked:
    name = sanitize_filename(item.filename or item.title)
    if len(item.data) > max_bytes:
        raise PayloadTooLarge(f"{name}: the file exceeds the limit of {max_bytes} bytes")
    mime = item.mime or sniff(item.data, name)
    return _Checked(item, name, mime, hashlib.sha256(item.data).hexdigest())


async def _usage(session: AsyncSession, tenant_id: uuid.UUID) -> Usage:
    row = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(Document.size), 0)).where(
                Document.tenant_id == tenant_id
            )
        )
    ).one()
    return Usage(documents=int(row[0]), bytes=int(row[1]))


def _enqueue(session: AsyncSession, settings: Settings, doc: Document) -> None:
    job = jobs.enqueue(
        session,
        kind=INGEST_JOB,
        tenant_id=doc.tenant_id,
        payload={"document_id": str(doc.id), "version": doc.version},
        max_attempts=settings.ingestion.max_attempts,
    )
    doc.job_id = job.id


async def add_documents(
    session: AsyncSession,
    *,
    principal: Principal,
    collection_id: uuid.UUID,
    items: list[NewDocument],
    settings: Settings,
    originals: OriginalStore,
    queue: JobQueue,
    request_id: str | None,
) -> list[UploadedDocument]:
    """Validate every item first (nothing is written if one is bad), then store and queue."""
    collection = await writable_collection(
        session, principal=principal, collection_id=collection_id
    )
    checked = [_check(item, settings.ingestion.max_file_bytes) for item in items]
    tenant = await session.get(Tenant, collection.tenant_id)
    assert tenant is not None
    results: list[UploadedDocument] = []
    new_docs, new_bytes, seen = 0, 0, set()
    for entry in checked:
        existing = await session.scalar(
            select(Document).where(
                Document.collection_id == collection.id, Document.sha256 == entry.sha256
            )
        )
        if existing is not None or entry.sha256 in seen:
            target = existing or next(
                d for d in session.new if getattr(d, "sha256", None) == entry.sha256
            )
            results.append(_uploaded(target, duplicate=True))
            continue
        seen.add(entry.sha256)
        doc, replaced = await _new_or_replaced(session, collection, entry)
        if not replaced:
            new_docs += 1
        new_bytes += len(entry.item.data)
        _enqueue(session, settings, doc)
        results.append(_uploaded(doc, duplicate=False, replaced=replaced))
    check_quota(
        tenant,
        settings.quotas,
        usage=await _usage(session, tenant.id),
        add_documents=new_docs,
        add_bytes=new_bytes,
    )
    for entry in checked:
        await originals.save(collection.tenant_id, entry.sha256, entry.item.data)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(
            "the same file is being uploaded concurrently; retry", code="upload_conflict"
        ) from None
    queue.notify()
    return results


async def _new_or_replaced(
    session: AsyncSession, collection: Collection, entry: _Checked
) -> tuple[Document, bool]:
    same_source = await session.scalar(
        select(Document).where(
            Document.collection_id == collection.id, Document.source == entry.source
        )
    )
    title = entry.item.title or entry.source
    if same_source is not None:
        same_source.sha256, same_source.size, same_source.mime = (
            entry.sha256,
            len(entry.item.data),
            entry.mime,
        )
        same_source.version += 1
        same_source.status, same_source.error, same_source.title = "queued", None, title
        if entry.item.metadata:
            same_source.doc_metadata = entry.item.metadata
        return same_source, True
    doc = Document(
        id=uuid.uuid4(),
        tenant_id=collection.tenant_id,
        collection_id=collection.id,
        title=title,
        source=entry.source,
        mime=entry.mime,
        size=len(entry.item.data),
        sha256=entry.sha256,
        doc_metadata=entry.item.metadata,
        status="queued",
        version=1,
        chunk_count=0,
    )
    session.add(doc)
    return doc, False


def _uploaded(doc: Document, *, duplicate: bool, replaced: bool = False) -> UploadedDocument:
    return UploadedDocument(
        id=doc.id,
        job_id=doc.job_id,
        title=doc.title,
        source=doc.source,
        status=doc.status,
        duplicate=duplicate,
        replaced=replaced,
    )


async def get_document(
    session: AsyncSession, *, principal: Principal, document_id: uuid.UUID
) -> Document:
    """A document the caller may read; 404 otherwise (other tenants, out-of-scope keys)."""
    tenant_id = principal.require_role(Role.VIEWER)
    doc = await session.get(Document, document_id)
    if (
        doc is None
        or doc.tenant_id != tenant_id
        or not principal.can_read_collection(str(doc.collection_id))
    ):
        raise NotFound("document not found")
    return doc


async def list_documents(
    session: AsyncSession,
    *,
    principal: Principal,
    collection_id: uuid.UUID | None,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page[Document]:
    """Documents of the tenant (or one collection), newest last."""
    tenant_id = principal.require_role(Role.VIEWER)
    stmt = select(Document).where(Document.tenant_id == tenant_id)
    if collection_id is not None:
        await readable_collection(session, principal=principal, collection_id=collection_id)
        stmt = stmt.where(Document.collection_id == collection_id)
    elif (scope := principal.scoped_collection_ids()) is not None:
        stmt = stmt.where(Document.collection_id.in_(scope))
    if status is not None:
        stmt = stmt.where(Document.status == status)
    return await paginate(
        session, stmt, order_col=Document.created_at, id_col=Document.id, cursor=cursor, limit=limit
    )


async def list_chunks(
    session: AsyncSession,
    *,
    principal: Principal,
    document_id: uuid.UUID,
    vectors: VectorStore,
    offset: int,
    limit: int,
) -> ChunkPage:
    """The indexed chunks of a document, in order."""
    doc = await get_document(session, principal=principal, document_id=document_id)
    if doc.indexed_version is None:
        return ChunkPage(items=[])
    hits = await vectors.list_chunks(
        tenant_id=str(doc.tenant_id),
        document_id=str(doc.id),
        version=doc.indexed_version,
        offset=offset,
        limit=limit + 1,
    )
    items = [
        ChunkOut(
            id=hit.id,
            index=int(hit.payload["chunk_index"]),
            text=str(hit.payload["text"]),
            page=hit.payload.get("page"),
            heading_path=list(hit.payload.get("heading_path") or []),
            token_count=hit.payload.get("token_count"),
        )
        for hit in hits[:limit]
    ]
    return ChunkPage(items=items, next_offset=offset + limit if len(hits) > limit else None)


async def update_metadata(
    session: AsyncSession,
    *,
    principal: Principal,
    document_id: uuid.UUID,
    metadata: dict[str, Any],
    vectors: VectorStore,
    request_id: str | None,
) -> Document:
    """Replace the metadata in the database and on every chunk's payload."""
    doc = await get_document(session, principal=principal, document_id=document_id)
    await writable_collection(session, principal=principal, collection_id=doc.collection_id)
    await vectors.set_document_metadata(
        tenant_id=str(doc.tenant_id), document_id=str(doc.id), metadata=metadata
    )
    doc.doc_metadata = metadata
    await bump_collection(session, doc.collection_id)
    await session.commit()
    return doc


async def delete_document(
    session: AsyncSession,
    *,
    principal: Principal,
    document_id: uuid.UUID,
    vectors: VectorStore,
    originals: OriginalStore,
    request_id: str | None,
) -> None:
    """Delete the document, its chunks and (when no other document shares it) its file."""
    doc = await get_document(session, principal=principal, document_id=document_id)
    await writable_collection(session, principal=principal, collection_id=doc.collection_id)
    await vectors.delete_document(tenant_id=str(doc.tenant_id), document_id=str(doc.id))
    await session.delete(doc)
    await bump_collection(session, doc.collection_id)
    audit.record(
        session,
        action="document.deleted",
        actor=principal,
        tenant_id=doc.tenant_id,
        target_type="document",
        target_id=doc.id,
        detail={"title": doc.title, "source": doc.source},
        request_id=request_id,
    )
    await session.commit()
    shared = await session.scalar(
        select(Document.id)
        .where(Document.tenant_id == doc.tenant_id, Document.sha256 == doc.sha256)
        .limit(1)
    )
    if shared is None:
        await originals.delete(doc.tenant_id, doc.sha256)


async def reindex_document(
    session: AsyncSession,
    *,
    principal: Principal,
    document_id: uuid.UUID,
    settings: Settings,
    queue: JobQueue,
) -> Document:
    """Parse, chunk and embed the stored original again as a new version."""
    doc = await get_document(session, principal=principal, document_id=document_id)
    await writable_collection(session, principal=principal, collection_id=doc.collection_id)
    doc.version += 1
    doc.status, doc.error = "queued", None
    _enqueue(session, settings, doc)
    await session.commit()
    queue.notify()
    return doc
