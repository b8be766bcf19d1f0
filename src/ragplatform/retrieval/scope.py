"""Which collections a read may touch, at which version, and which hits are still current."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ragplatform.documents.models import Collection, Document
from ragplatform.errors import NotFound
from ragplatform.ports import VectorHit
from ragplatform.tenancy.principal import Principal
from ragplatform.tenancy.roles import Role


@dataclass(frozen=True)
class CollectionRef:
    """A readable collection and its version (bumped by every document change)."""

    id: str
    name: str
    version: int


async def readable_collections(
    session: AsyncSession, *, principal: Principal, wanted: Sequence[uuid.UUID] | None
) -> list[CollectionRef]:
    """The caller's readable collections (all, or ``wanted``: 404 unless each is one)."""
    tenant_id = principal.require_role(Role.VIEWER)
    query = select(Collection.id, Collection.name, Collection.version).where(
        Collection.tenant_id == tenant_id
    )
    ids = list(dict.fromkeys(wanted)) if wanted is not None else None
    if ids is not None:
        query = query.where(Collection.id.in_(ids))
    rows = (await session.execute(query.order_by(Collection.name))).all()
    found = {
        row.id: CollectionRef(str(row.id), row.name, int(row.version))
        for row in rows
        if principal.can_read_collection(str(row.id))
    }
    if ids is None:
        return list(found.values())
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"collection {missing[0]} not found")
    return [found[i] for i in ids]


async def current_hits(session: AsyncSession, hits: Sequence[VectorHit]) -> list[VectorHit]:
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
