"""Collections: tenant-scoped CRUD; deleting one deletes its documents, vectors and files."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ragplatform.db.pagination import Page, paginate
from ragplatform.documents.models import Collection, Document
from ragplatform.documents.schemas import CollectionCreate, CollectionUpdate
from ragplatform.documents.storage import OriginalStore
from ragplatform.errors import Conflict, NotFound, PermissionDenied
from ragplatform.ports import Embedder, VectorStore
from ragplatform.tenancy import audit
from ragplatform.tenancy.principal import Principal
from ragplatform.tenancy.roles import Role

_NAME_TAKEN = "a collection with this name already exists"


async def readable_collection(
    session: AsyncSession, *, principal: Principal, collection_id: uuid.UUID
) -> Collection:
    """A collection of the caller's tenant within the credential's scope; 404 otherwise."""
    tenant_id = principal.require_role(Role.VIEWER)
    collection = await session.get(Collection, collection_id)
    if (
        collection is None
        or collection.tenant_id != tenant_id
        or not principal.can_read_collection(str(collection.id))
    ):
        raise NotFound("collection not found")
    return collection


async def writable_collection(
    session: AsyncSession, *, principal: Principal, collection_id: uuid.UUID
) -> Collection:
    """As :func:`readable_collection`, for editors and above."""
    collection = await readable_collection(
        session, principal=principal, collection_id=collection_id
    )
    principal.require_role(Role.EDITOR)
    return collection


async def create_collection(
    session: AsyncSession,
    *,
    principal: Principal,
    data: CollectionCreate,
    embedder: Embedder,
    request_id: str | None,
) -> Collection:
    """Create a collection bound to the current embedding model."""
    tenant_id = principal.require_role(Role.EDITOR)
    if principal.collection_ids is not None:
        raise PermissionDenied("a collection-scoped key cannot create collections")
    taken = select(Collection.id).where(
        Collection.tenant_id == tenant_id, Collection.name == data.name
    )
    if await session.scalar(taken) is not None:
        raise Conflict(_NAME_TAKEN, code="name_taken")
    collection = Collection(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        name=data.name,
        description=data.description,
        embedding_model=embedder.model_name,
        embedding_dim=embedder.dimension,
        version=0,
    )
    session.add(collection)
    audit.record(
        session,
        action="collection.created",
        actor=principal,
        tenant_id=tenant_id,
        target_type="collection",
        target_id=collection.id,
        detail={"name": data.name},
        request_id=request_id,
    )
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(_NAME_TAKEN, code="name_taken") from None
    return collection


async def list_collections(
    session: AsyncSession, *, principal: Principal, cursor: str | None, limit: int
) -> Page[Collection]:
    """The tenant's collections the credential may see, oldest first."""
    tenant_id = principal.require_role(Role.VIEWER)
    stmt = select(Collection).where(Collection.tenant_id == tenant_id)
    scope = principal.scoped_collection_ids()
    if scope is not None:
        stmt = stmt.where(Collection.id.in_(scope))
    return await paginate(
        session,
        stmt,
        order_col=Collection.created_at,
        id_col=Collection.id,
        cursor=cursor,
        limit=limit,
    )


async def update_collection(
    session: AsyncSession,
    *,
    principal: Principal,
    collection_id: uuid.UUID,
    data: CollectionUpdate,
    request_id: str | None,
) -> Collection:
    """Rename or describe a collection."""
    collection = await writable_collection(
        session, principal=principal, collection_id=collection_id
    )
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "name" in changes and changes["name"] != collection.name:
        clash = select(Collection.id).where(
            Collection.tenant_id == collection.tenant_id, Collection.name == changes["name"]
        )
        if await session.scalar(clash) is not None:
            raise Conflict(_NAME_TAKEN, code="name_taken")
    for field, value in changes.items():
        setattr(collection, field, value)
    if changes:
        audit.record(
            session,
            action="collection.updated",
            actor=principal,
            tenant_id=collection.tenant_id,
            target_type="collection",
            target_id=collection.id,
            detail={"changes": changes},
            request_id=request_id,
        )
    await session.commit()
    return collection


async def delete_collection(
    session: AsyncSession,
    *,
    principal: Principal,
    collection_id: uuid.UUID,
    vectors: VectorStore,
    originals: OriginalStore,
    request_id: str | None,
) -> None:
    """Delete the collection, its documents, their vectors and stored originals."""
    collection = await writable_collection(
        session, principal=principal, collection_id=collection_id
    )
    tenant_id = collection.tenant_id
    digests = set(
        (
            await session.scalars(
                select(Document.sha256).where(Document.collection_id == collection.id)
            )
        ).all()
    )
    await vectors.delete_collection(tenant_id=str(tenant_id), collection_id=str(collection.id))
    await session.delete(collection)
    audit.record(
        session,
        action="collection.deleted",
        actor=principal,
        tenant_id=tenant_id,
        target_type="collection",
        target_id=collection_id,
        detail={"name": collection.name, "documents": len(digests)},
        request_id=request_id,
    )
    await session.commit()
    still_used = set(
        (
            await session.scalars(
                select(Document.sha256).where(
                    Document.tenant_id == tenant_id, Document.sha256.in_(digests)
                )
            )
        ).all()
    )
    for digest in digests - still_used:
        await originals.delete(tenant_id, digest)


async def document_count(session: AsyncSession, *, collection_id: uuid.UUID) -> int:
    """Documents in a collection."""
    count = await session.scalar(
        select(func.count()).select_from(Document).where(Document.collection_id == collection_id)
    )
    return int(count or 0)


async def bump_collection(session: AsyncSession, collection_id: uuid.UUID) -> None:
    """``version = version + 1`` in SQL: concurrent bumps never collapse into one."""
    await session.execute(
        update(Collection)
        .where(Collection.id == collection_id)
        .values(version=Collection.version + 1)
    )
