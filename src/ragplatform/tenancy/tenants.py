"""Tenant administration (platform admins only)."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ragplatform.db.pagination import Page, paginate
from ragplatform.errors import Conflict, NotFound, PermissionDenied
from ragplatform.jobs import service as jobs
from ragplatform.jobs.models import Job
from ragplatform.jobs.runner import JobContext
from ragplatform.ports import JobQueue
from ragplatform.tenancy import audit
from ragplatform.tenancy.models import Tenant
from ragplatform.tenancy.principal import Principal
from ragplatform.tenancy.schemas import TenantCreate, TenantUpdate

DELETE_JOB = "tenant.delete"


def _require_platform_admin(principal: Principal) -> None:
    if not principal.is_platform_admin:
        raise PermissionDenied("this action needs a platform admin credential")


def tenant_files_dir(data_dir: Path, tenant_id: uuid.UUID) -> Path:
    """Where a tenant's stored originals live."""
    return data_dir / "tenants" / str(tenant_id)


async def create_tenant(
    session: AsyncSession, *, principal: Principal, data: TenantCreate, request_id: str | None
) -> Tenant:
    """Create a tenant; the slug must be unused."""
    _require_platform_admin(principal)
    if await session.scalar(select(Tenant.id).where(Tenant.slug == data.slug)) is not None:
        raise Conflict(f"a tenant with slug {data.slug!r} already exists", code="slug_taken")
    tenant = Tenant(id=uuid.uuid4(), **data.model_dump())
    session.add(tenant)
    audit.record(
        session,
        action="tenant.created",
        actor=principal,
        tenant_id=None,
        target_type="tenant",
        target_id=tenant.id,
        detail={"slug": data.slug},
        request_id=request_id,
    )
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(
            f"a tenant with slug {data.slug!r} already exists", code="slug_taken"
        ) from None
    return tenant


async def list_tenants(
    session: AsyncSession, *, principal: Principal, cursor: str | None, limit: int
) -> Page[Tenant]:
    """Every tenant, oldest first."""
    _require_platform_admin(principal)
    return await paginate(
        session,
        select(Tenant),
        order_col=Tenant.created_at,
        id_col=Tenant.id,
        cursor=cursor,
        limit=limit,
    )


async def get_tenant(
    session: AsyncSession, *, principal: Principal, tenant_id: uuid.UUID
) -> Tenant:
    """One tenant; 404 when unknown."""
    _require_platform_admin(principal)
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")
    return tenant


async def update_tenant(
    session: AsyncSession,
    *,
    principal: Principal,
    tenant_id: uuid.UUID,
    data: TenantUpdate,
    request_id: str | None,
) -> Tenant:
    """Rename, suspend/reactivate or change quotas."""
    tenant = await get_tenant(session, principal=principal, tenant_id=tenant_id)
    if tenant.status == "deleting":
        raise Conflict("the tenant is being deleted", code="tenant_deleting")
    changes = data.model_dump(exclude_unset=True)
    for field, value in changes.items():
        setattr(tenant, field, value)
    if changes:
        audit.record(
            session,
            action="tenant.updated",
            actor=principal,
            tenant_id=None,
            target_type="tenant",
            target_id=tenant.id,
            detail={"changes": changes},
            request_id=request_id,
        )
    await session.commit()
    return tenant


async def request_tenant_deletion(
    session: AsyncSession,
    *,
    principal: Principal,
    tenant_id: uuid.UUID,
    queue: JobQueue,
    request_id: str | None,
) -> Job:
    """Lock the tenant out at once and delete all of its data in a job."""
    tenant = await get_tenant(session, principal=principal, tenant_id=tenant_id)
    if tenant.status == "deleting":
        raise Conflict("the tenant is already being deleted", code="tenant_deleting")
    tenant.status = "deleting"
    job = jobs.enqueue(
        session, kind=DELETE_JOB, tenant_id=None, payload={"tenant_id": str(tenant.id)}
    )
    audit.record(
        session,
        action="tenant.deletion_requested",
        actor=principal,
        tenant_id=None,
        target_type="tenant",
        target_id=tenant.id,
        detail={"slug": tenant.slug, "job_id": str(job.id)},
        request_id=request_id,
    )
    await session.commit()
    queue.notify()
    return job


async def run_tenant_deletion(ctx: JobContext, job: Job) -> None:
    """Job handler: remove every row and file of the tenant (idempotent)."""
    tenant_id = uuid.UUID(job.payload["tenant_id"])
    async with ctx.db.session() as session:
        slug = await session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))
        await session.execute(delete(Job).where(Job.tenant_id == tenant_id))
        # Users, keys, tokens and audit events go with the tenant row (ON DELETE CASCADE).
        await session.execute(delete(Tenant).where(Tenant.id == tenant_id))
        audit.record(
            session,
            action="tenant.deleted",
            actor="system",
            tenant_id=None,
            target_type="tenant",
            target_id=tenant_id,
            detail={"slug": slug, "job_id": str(job.id)},
        )
        await session.commit()
    if ctx.vectors is not None:
        await ctx.vectors.delete_tenant(tenant_id=str(tenant_id))
    files = tenant_files_dir(ctx.settings.data_dir, tenant_id)
    await asyncio.to_thread(shutil.rmtree, files, ignore_errors=True)
