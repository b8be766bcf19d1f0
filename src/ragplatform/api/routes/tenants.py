"""/api/v1/tenants — platform admins manage tenants."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from ragplatform.api.auth import PlatformAdmin
from ragplatform.api.deps import JobQueueDep, RequestIdDep, SessionDep
from ragplatform.api.pagination import CursorQuery, LimitQuery
from ragplatform.tenancy import tenants
from ragplatform.tenancy.schemas import (
    JobAccepted,
    PageOut,
    TenantCreate,
    TenantOut,
    TenantUpdate,
)

router = APIRouter(prefix="/api/v1/tenants", tags=["tenants"])


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a tenant")
async def create_tenant(
    body: TenantCreate, principal: PlatformAdmin, session: SessionDep, request_id: RequestIdDep
) -> TenantOut:
    """Create a tenant with a unique slug."""
    tenant = await tenants.create_tenant(
        session, principal=principal, data=body, request_id=request_id
    )
    return TenantOut.model_validate(tenant)


@router.get("", summary="List tenants")
async def list_tenants(
    principal: PlatformAdmin,
    session: SessionDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> PageOut[TenantOut]:
    """Every tenant, oldest first."""
    page = await tenants.list_tenants(session, principal=principal, cursor=cursor, limit=limit)
    return PageOut(
        items=[TenantOut.model_validate(t) for t in page.items], next_cursor=page.next_cursor
    )


@router.get("/{tenant_id}", summary="Get a tenant")
async def get_tenant(
    tenant_id: uuid.UUID, principal: PlatformAdmin, session: SessionDep
) -> TenantOut:
    """One tenant."""
    tenant = await tenants.get_tenant(session, principal=principal, tenant_id=tenant_id)
    return TenantOut.model_validate(tenant)


@router.patch("/{tenant_id}", summary="Rename, suspend/reactivate or change quotas")
async def update_tenant(
    tenant_id: uuid.UUID,
    body: TenantUpdate,
    principal: PlatformAdmin,
    session: SessionDep,
    request_id: RequestIdDep,
) -> TenantOut:
    """Suspending makes every credential of the tenant answer 403 tenant_suspended."""
    tenant = await tenants.update_tenant(
        session, principal=principal, tenant_id=tenant_id, data=body, request_id=request_id
    )
    return TenantOut.model_validate(tenant)


@router.delete(
    "/{tenant_id}", status_code=status.HTTP_202_ACCEPTED, summary="Delete a tenant and all its data"
)
async def delete_tenant(
    tenant_id: uuid.UUID,
    principal: PlatformAdmin,
    session: SessionDep,
    queue: JobQueueDep,
    request_id: RequestIdDep,
) -> JobAccepted:
    """Locks the tenant out now; a job removes its rows, vectors and files.

    Follow it with GET /api/v1/jobs/{job_id}.
    """
    job = await tenants.request_tenant_deletion(
        session, principal=principal, tenant_id=tenant_id, queue=queue, request_id=request_id
    )
    return JobAccepted(job_id=job.id, status=job.status)
