"""/api/v1/collections — tenant-scoped; editors and above write."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from ragplatform.api.auth import TenantEditor, TenantViewer
from ragplatform.api.deps import EmbedderDep, OriginalsDep, RequestIdDep, SessionDep, VectorsDep
from ragplatform.api.pagination import CursorQuery, LimitQuery
from ragplatform.documents import collections
from ragplatform.documents.schemas import CollectionCreate, CollectionOut, CollectionUpdate
from ragplatform.tenancy.schemas import PageOut

router = APIRouter(prefix="/api/v1/collections", tags=["collections"])


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a collection")
async def create_collection(
    body: CollectionCreate,
    principal: TenantEditor,
    session: SessionDep,
    embedder: EmbedderDep,
    request_id: RequestIdDep,
) -> CollectionOut:
    """The name is unique in the tenant; the current embedding model is recorded."""
    collection = await collections.create_collection(
        session, principal=principal, data=body, embedder=embedder, request_id=request_id
    )
    return CollectionOut.model_validate(collection)


@router.get("", summary="List collections")
async def list_collections(
    principal: TenantViewer, session: SessionDep, cursor: CursorQuery = None, limit: LimitQuery = 50
) -> PageOut[CollectionOut]:
    """Collections the credential may read."""
    page = await collections.list_collections(
        session, principal=principal, cursor=cursor, limit=limit
    )
    return PageOut(
        items=[CollectionOut.model_validate(c) for c in page.items], next_cursor=page.next_cursor
    )


@router.get("/{collection_id}", summary="Get a collection")
async def get_collection(
    collection_id: uuid.UUID, principal: TenantViewer, session: SessionDep
) -> CollectionOut:
    """One collection."""
    collection = await collections.readable_collection(
        session, principal=principal, collection_id=collection_id
    )
    return CollectionOut.model_validate(collection)


@router.patch("/{collection_id}", summary="Rename or describe a collection")
async def update_collection(
    collection_id: uuid.UUID,
    body: CollectionUpdate,
    principal: TenantEditor,
    session: SessionDep,
    request_id: RequestIdDep,
) -> CollectionOut:
    """Names stay unique in the tenant."""
    collection = await collections.update_collection(
        session, principal=principal, collection_id=collection_id, data=body, request_id=request_id
    )
    return CollectionOut.model_validate(collection)


@router.delete(
    "/{collection_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a collection"
)
async def delete_collection(
    collection_id: uuid.UUID,
    principal: TenantEditor,
    session: SessionDep,
    vectors: VectorsDep,
    originals: OriginalsDep,
    request_id: RequestIdDep,
) -> Response:
    """Deletes its documents, their vectors and stored files."""
    await collections.delete_collection(
        session,
        principal=principal,
        collection_id=collection_id,
        vectors=vectors,
        originals=originals,
        request_id=request_id,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
