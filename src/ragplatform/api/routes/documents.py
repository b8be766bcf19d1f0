"""/api/v1/collections/{id}/documents and /api/v1/documents — upload, read, change, delete."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from ragplatform.api.auth import TenantEditor, TenantViewer
from ragplatform.api.deps import (
    JobQueueDep,
    OriginalsDep,
    RequestIdDep,
    SessionDep,
    SettingsDep,
    VectorsDep,
)
from ragplatform.api.pagination import CursorQuery, LimitQuery
from ragplatform.api.uploads import UPLOAD_OPENAPI, read_upload
from ragplatform.documents import service
from ragplatform.documents.schemas import (
    ChunkPage,
    DocumentOut,
    DocumentPatch,
    DocumentStatus,
    UploadAccepted,
)
from ragplatform.tenancy.schemas import JobAccepted, PageOut

router = APIRouter(tags=["documents"])


@router.post(
    "/api/v1/collections/{collection_id}/documents",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Upload files (multipart) or a text (JSON); ingestion runs as a job",
    openapi_extra=UPLOAD_OPENAPI,
    responses={413: {"description": "Too large"}, 415: {"description": "Unsupported type"}},
)
async def upload(
    *,
    collection_id: uuid.UUID,
    request: Request,
    principal: TenantEditor,
    session: SessionDep,
    settings: SettingsDep,
    originals: OriginalsDep,
    queue: JobQueueDep,
    request_id: RequestIdDep,
) -> UploadAccepted:
    """The type is sniffed from the bytes; the same bytes again return the existing document."""
    items = await read_upload(request, settings.ingestion)
    documents = await service.add_documents(
        session,
        principal=principal,
        collection_id=collection_id,
        items=items,
        settings=settings,
        originals=originals,
        queue=queue,
        request_id=request_id,
    )
    return UploadAccepted(documents=documents)


@router.get("/api/v1/documents", summary="List documents")
async def list_documents(
    principal: TenantViewer,
    session: SessionDep,
    collection_id: Annotated[uuid.UUID | None, Query()] = None,
    status_: Annotated[DocumentStatus | None, Query(alias="status")] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> PageOut[DocumentOut]:
    """Filter by collection and status."""
    page = await service.list_documents(
        session,
        principal=principal,
        collection_id=collection_id,
        status=status_,
        cursor=cursor,
        limit=limit,
    )
    return PageOut(
        items=[DocumentOut.model_validate(d) for d in page.items], next_cursor=page.next_cursor
    )


@router.get("/api/v1/documents/{document_id}", summary="Get a document")
async def get_document(
    document_id: uuid.UUID, principal: TenantViewer, session: SessionDep
) -> DocumentOut:
    """Status, chunk count, error and metadata."""
    doc = await service.get_document(session, principal=principal, document_id=document_id)
    return DocumentOut.model_validate(doc)


@router.get("/api/v1/documents/{document_id}/chunks", summary="A document's chunks")
async def list_chunks(
    document_id: uuid.UUID,
    principal: TenantViewer,
    session: SessionDep,
    vectors: VectorsDep,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: LimitQuery = 50,
) -> ChunkPage:
    """Text and metadata of each chunk, in order."""
    return await service.list_chunks(
        session,
        principal=principal,
        document_id=document_id,
        vectors=vectors,
        offset=offset,
        limit=limit,
    )


@router.patch("/api/v1/documents/{document_id}", summary="Replace a document's metadata")
async def update_document(
    document_id: uuid.UUID,
    body: DocumentPatch,
    principal: TenantEditor,
    session: SessionDep,
    vectors: VectorsDep,
    request_id: RequestIdDep,
) -> DocumentOut:
    """The new metadata reaches every chunk's payload (search filters see it)."""
    doc = await service.update_metadata(
        session,
        principal=principal,
        document_id=document_id,
        metadata=body.metadata,
        vectors=vectors,
        request_id=request_id,
    )
    return DocumentOut.model_validate(doc)


@router.delete(
    "/api/v1/documents/{document_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a document",
)
async def delete_document(
    document_id: uuid.UUID,
    principal: TenantEditor,
    session: SessionDep,
    vectors: VectorsDep,
    originals: OriginalsDep,
    request_id: RequestIdDep,
) -> Response:
    """Its chunks and stored file go too."""
    await service.delete_document(
        session,
        principal=principal,
        document_id=document_id,
        vectors=vectors,
        originals=originals,
        request_id=request_id,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/api/v1/documents/{document_id}/reindex",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Parse, chunk and embed the stored original again",
)
async def reindex(
    document_id: uuid.UUID,
    principal: TenantEditor,
    session: SessionDep,
    settings: SettingsDep,
    queue: JobQueueDep,
) -> JobAccepted:
    """The old chunks stay searchable until the new version is ready."""
    doc = await service.reindex_document(
        session, principal=principal, document_id=document_id, settings=settings, queue=queue
    )
    assert doc.job_id is not None
    return JobAccepted(job_id=doc.job_id, status="queued")
