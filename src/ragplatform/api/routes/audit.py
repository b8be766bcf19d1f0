"""/api/v1/audit-events — tenant admins see their tenant's, platform admins everything."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ragplatform.api.auth import AdminOrPlatform
from ragplatform.api.deps import SessionDep
from ragplatform.api.pagination import CursorQuery, LimitQuery
from ragplatform.tenancy import audit
from ragplatform.tenancy.schemas import AuditEventOut, PageOut

router = APIRouter(prefix="/api/v1/audit-events", tags=["audit"])


@router.get("", summary="List audit events, newest first")
async def list_audit_events(
    principal: AdminOrPlatform,
    session: SessionDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
    action: Annotated[str | None, Query(max_length=64, description="e.g. login.failed")] = None,
) -> PageOut[AuditEventOut]:
    """Logins, key and user changes, tenant changes, deletions."""
    page = await audit.list_events(
        session, principal=principal, cursor=cursor, limit=limit, action=action
    )
    return PageOut(
        items=[AuditEventOut.model_validate(e) for e in page.items], next_cursor=page.next_cursor
    )
