"""The audit log: who did what to which object, written in the same transaction as the change."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ragplatform.db.pagination import Page, paginate
from ragplatform.tenancy.models import AuditEvent
from ragplatform.tenancy.principal import Principal

_SECRET_FIELDS = frozenset({"password", "key", "token", "refresh_token", "secret", "key_hash"})


def record(
    session: AsyncSession,
    *,
    action: str,
    actor: Principal | str,
    tenant_id: uuid.UUID | None,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    detail: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> AuditEvent:
    """Add an audit event to the session (the caller commits it with the change)."""
    if detail and _SECRET_FIELDS & detail.keys():
        raise ValueError("audit details must never carry secrets")
    event = AuditEvent(
        tenant_id=tenant_id,
        actor=actor.actor if isinstance(actor, Principal) else actor,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        detail=detail,
        request_id=request_id,
    )
    session.add(event)
    return event


async def list_events(
    session: AsyncSession,
    *,
    principal: Principal,
    cursor: str | None,
    limit: int,
    action: str | None = None,
) -> Page[AuditEvent]:
    """Newest first: the caller's tenant, or every event for platform admins."""
    stmt = select(AuditEvent)
    if not principal.is_platform_admin:
        stmt = stmt.where(AuditEvent.tenant_id == principal.require_tenant())
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return await paginate(
        session,
        stmt,
        order_col=AuditEvent.at,
        id_col=AuditEvent.id,
        cursor=cursor,
        limit=limit,
        descending=True,
    )
