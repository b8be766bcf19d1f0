"""What the platform-admin backup endpoints do: stream archives out, take a tenant in."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select

from ragplatform.backup.deployment import Deployment
from ragplatform.backup.loading import LoadSummary
from ragplatform.backup.manifest import ArchiveError
from ragplatform.backup.scratch import scratch_folder
from ragplatform.backup.streaming import stream_archive
from ragplatform.backup.tenant_transfer import export_tenant, import_tenant
from ragplatform.backup.writer import write_archive
from ragplatform.errors import Conflict, NotFound, PermissionDenied
from ragplatform.observability.logging import get_logger
from ragplatform.ports import JobQueue
from ragplatform.tenancy import audit
from ragplatform.tenancy.models import Tenant
from ragplatform.tenancy.principal import Principal

_log = get_logger("ragplatform.backup")
_SPOOL_BLOCK = 1 << 20


@dataclass(frozen=True)
class ArchiveStream:
    """An archive on its way out: a file name to suggest, its media type and its bytes."""

    filename: str
    media_type: str
    chunks: AsyncIterator[bytes]


def _require_platform_admin(principal: Principal) -> None:
    if not principal.is_platform_admin:
        raise PermissionDenied("this action needs a platform admin credential")


def _name(stem: str, compress: bool) -> tuple[str, str]:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    if compress:
        return f"{stem}-{stamp}.tar.gz", "application/gzip"
    return f"{stem}-{stamp}.tar", "application/x-tar"


async def _audit(
    deployment: Deployment,
    principal: Principal,
    action: str,
    request_id: str | None,
    tenant: Tenant | None = None,
) -> None:
    async with deployment.db.session() as session:
        audit.record(
            session,
            action=action,
            actor=principal,
            tenant_id=None,
            target_type="tenant" if tenant else None,
            target_id=tenant.id if tenant else None,
            detail={"slug": tenant.slug} if tenant else None,
            request_id=request_id,
        )
        await session.commit()


async def backup_stream(
    deployment: Deployment, *, principal: Principal, compress: bool, request_id: str | None
) -> ArchiveStream:
    """A backup of the whole platform, streamed while it is written."""
    _require_platform_admin(principal)
    await _audit(deployment, principal, "platform.backup", request_id)

    async def produce(sink: BinaryIO) -> None:
        manifest = await write_archive(deployment, sink, compress=compress)
        _log.info("backup_written", chunks=manifest.chunks, originals=manifest.originals)

    filename, media_type = _name("ragplatform-backup", compress)
    return ArchiveStream(filename, media_type, stream_archive(produce))


async def tenant_export_stream(
    deployment: Deployment,
    *,
    principal: Principal,
    slug: str,
    compress: bool,
    request_id: str | None,
) -> ArchiveStream:
    """One tenant's archive, streamed while it is written; 404 for an unknown slug."""
    _require_platform_admin(principal)
    async with deployment.db.session() as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(f"no tenant with slug {slug!r}", code="tenant_not_found")
    if tenant.status == "deleting":
        raise Conflict(f"tenant {slug!r} is being deleted", code="tenant_deleting")
    await _audit(deployment, principal, "tenant.exported", request_id, tenant)

    async def produce(sink: BinaryIO) -> None:
        manifest = await export_tenant(deployment, slug, sink, compress=compress)
        _log.info("tenant_exported", slug=slug, chunks=manifest.chunks)

    filename, media_type = _name(f"tenant-{slug}", compress)
    return ArchiveStream(filename, media_type, stream_archive(produce))


async def _spool(body: AsyncIterator[bytes], target: Path) -> int:
    size, pending, buffered = 0, [], 0
    with target.open("wb") as handle:
        async for chunk in body:
            pending.append(chunk)
            size, buffered = size + len(chunk), buffered + len(chunk)
            if buffered >= _SPOOL_BLOCK:
                await asyncio.to_thread(handle.writelines, pending)
                pending, buffered = [], 0
        await asyncio.to_thread(handle.writelines, pending)
    return size


async def import_uploaded_tenant(
    deployment: Deployment,
    *,
    principal: Principal,
    body: AsyncIterator[bytes],
    queue: JobQueue,
    request_id: str | None,
) -> LoadSummary:
    """Receive a tenant archive, verify it and load it; its queued jobs then run here."""
    _require_platform_admin(principal)
    async with scratch_folder("ragplatform-upload-") as folder:
        path = folder / "tenant.tar"
        if not await _spool(body, path):
            raise ArchiveError("the request carried no archive: send the file as the body")
        summary = await import_tenant(deployment, path, actor=principal, request_id=request_id)
    queue.notify()
    return summary
