"""Moving one tenant between deployments (and vector backends) without re-embedding.

The export is a backup restricted to the tenant's rows, chunks and originals (login sessions
stay behind). The import refuses a slug or any id that already exists in the target, loads
everything, checks the counts, and removes what it loaded if anything fails.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ragplatform.backup.deployment import Deployment
from ragplatform.backup.loading import (
    LoadSummary,
    archived_documents,
    check_chunk_counts,
    check_loadable,
    load_originals,
    load_rows,
    load_vectors,
    staged_archive,
    table_entries,
)
from ragplatform.backup.manifest import ArchiveError, Manifest
from ragplatform.backup.progress import NO_PROGRESS, Progress
from ragplatform.backup.rows import primary_key
from ragplatform.backup.verify import VerifiedArchive
from ragplatform.backup.writer import write_archive
from ragplatform.db.preflight import check_database
from ragplatform.errors import Conflict
from ragplatform.jobs.models import Job
from ragplatform.tenancy import audit
from ragplatform.tenancy.models import Tenant
from ragplatform.tenancy.principal import Principal
from ragplatform.tenancy.tenants import tenant_files_dir

_ID_BATCH = 500


async def export_tenant(
    deployment: Deployment,
    slug: str,
    sink: BinaryIO,
    *,
    compress: bool,
    progress: Progress = NO_PROGRESS,
) -> Manifest:
    """Write the tenant ``slug`` as a tenant archive into ``sink``."""
    return await write_archive(
        deployment, sink, compress=compress, tenant_slug=slug, progress=progress
    )


def _archived_ids(archive: VerifiedArchive) -> list[tuple[Any, list[Any]]]:
    """Each table's primary-key column and the archive's values of it."""
    found = []
    for table, name in table_entries(archive):
        key = table.c[primary_key(table)]
        kind = key.type.python_type
        found.append((key, [kind(json.loads(line)[key.name]) for line in archive.lines(name)]))
    return found


async def _existing_ids(conn: AsyncConnection, archive: VerifiedArchive) -> None:
    for key, ids in await asyncio.to_thread(_archived_ids, archive):
        for start in range(0, len(ids), _ID_BATCH):
            batch = ids[start : start + _ID_BATCH]
            taken = (await conn.execute(select(key).where(key.in_(batch)).limit(1))).scalar()
            if taken is not None:
                raise Conflict(
                    f"{key.table.name} {taken} already exists in this deployment (was the tenant "
                    "imported before?)",
                    code="ids_taken",
                )


async def check_importable(deployment: Deployment, archive: VerifiedArchive) -> None:
    """Refuse a tenant whose slug, ids or chunks already exist in the target."""
    tenant = archive.manifest.tenant
    if tenant is None:
        raise ArchiveError("the tenant archive does not name its tenant")
    async with deployment.db.engine.connect() as conn:
        if await conn.scalar(select(Tenant.id).where(Tenant.slug == tenant.slug)) is not None:
            raise Conflict(
                f"a tenant with slug {tenant.slug!r} already exists in this deployment",
                code="slug_taken",
            )
        await _existing_ids(conn, archive)
    if deployment.vectors is not None and await deployment.vectors.count(tenant_id=tenant.id):
        raise Conflict(
            f"the vector store already holds chunks of tenant id {tenant.id}", code="ids_taken"
        )


async def _remove(deployment: Deployment, tenant_id: str) -> None:
    """Undo a failed import: the tenant's rows, chunks and files."""
    key = uuid.UUID(tenant_id)
    async with deployment.db.session() as session:
        await session.execute(delete(Job).where(Job.tenant_id == key))
        await session.execute(delete(Tenant).where(Tenant.id == key))
        await session.commit()
    if deployment.vectors is not None:
        await deployment.vectors.delete_tenant(tenant_id=tenant_id)
    files = tenant_files_dir(deployment.originals.data_dir, key)
    await asyncio.to_thread(shutil.rmtree, files, ignore_errors=True)


async def _load(
    deployment: Deployment, archive: VerifiedArchive, tenant_id: str, progress: Progress
) -> tuple[int, int, int]:
    docs = await asyncio.to_thread(archived_documents, archive)
    async with deployment.db.engine.begin() as conn:
        rows = await load_rows(conn, archive, progress)
    try:
        chunks = await load_vectors(deployment.vectors, archive, docs, progress)
        originals = await load_originals(deployment, archive, docs, progress)
        await check_chunk_counts(deployment.vectors, docs, [tenant_id])
    except BaseException:
        await asyncio.shield(_remove(deployment, tenant_id))
        raise
    return rows, chunks, originals


async def import_archive(
    deployment: Deployment,
    archive: VerifiedArchive,
    *,
    actor: Principal | str,
    request_id: str | None = None,
    progress: Progress = NO_PROGRESS,
) -> LoadSummary:
    """Load a verified tenant archive; nothing is left behind when it fails."""
    started = time.perf_counter()
    manifest = archive.manifest
    check_loadable(manifest, kind="tenant", target=deployment.embedding)
    await check_database(deployment.db)
    await check_importable(deployment, archive)
    assert manifest.tenant is not None  # checked by check_importable
    tenant = manifest.tenant
    rows, chunks, originals = await _load(deployment, archive, tenant.id, progress)
    documents = manifest.tables.get("documents", 0)
    async with deployment.db.session() as session:
        audit.record(
            session,
            action="tenant.imported",
            actor=actor,
            tenant_id=None,
            target_type="tenant",
            target_id=tenant.id,
            detail={"slug": tenant.slug, "documents": documents, "chunks": chunks},
            request_id=request_id,
        )
        await session.commit()
    return LoadSummary(
        tenants=[tenant.id],
        rows=rows,
        documents=documents,
        chunks=chunks,
        originals=originals,
        requeued=len(manifest.consistency.requeued_documents),
        seconds=time.perf_counter() - started,
        slug=tenant.slug,
    )


async def import_tenant(
    deployment: Deployment,
    archive_path: Path,
    *,
    actor: Principal | str,
    request_id: str | None = None,
    progress: Progress = NO_PROGRESS,
) -> LoadSummary:
    """Verify the tenant archive at ``archive_path`` and load it."""
    async with staged_archive(archive_path, progress) as archive:
        return await import_archive(
            deployment, archive, actor=actor, request_id=request_id, progress=progress
        )
