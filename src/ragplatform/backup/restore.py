"""Restoring a backup, offline, into an empty data dir and an empty database."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import func, inspect, select

from ragplatform.backup.deployment import open_deployment
from ragplatform.backup.loading import (
    LoadSummary,
    archived_documents,
    archived_tenants,
    check_chunk_counts,
    check_loadable,
    load_originals,
    load_rows,
    load_vectors,
    staged_archive,
)
from ragplatform.backup.manifest import EmbeddingInfo
from ragplatform.backup.progress import NO_PROGRESS, Progress
from ragplatform.backup.rows import all_tables
from ragplatform.db import migrate
from ragplatform.db.engine import Database, redact_url
from ragplatform.errors import Conflict, RagPlatformError
from ragplatform.ports import VectorStore
from ragplatform.settings import Settings

# What a data dir holds besides the SQLite file: vector data (Qdrant Edge, Milvus Lite) and
# stored originals.
DATA_SUBDIRS = ("vectors", "milvus", "tenants")


def check_data_dir_empty(data_dir: Path) -> None:
    """Refuse a data dir that already holds vector data or originals."""
    for name in DATA_SUBDIRS:
        folder = data_dir / name
        if folder.is_dir() and any(p.is_file() for p in folder.rglob("*")):
            raise Conflict(
                f"the data dir {data_dir} is not empty ({name}/ holds data): restore only into "
                "an empty data dir (is a server running on it?)",
                code="target_not_empty",
            )


async def check_database_empty(db: Database) -> None:
    """Refuse a database with rows in it (a schema without rows, or none at all, is fine)."""
    where = redact_url(db.url)
    revision = await migrate.current_revision(db)
    if revision is None:
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        ours = sorted({t.name for t in all_tables()} & set(names))
        if ours:
            raise Conflict(
                f"the database at {where} holds table {ours[0]} but no schema revision: "
                "restore only into an empty database",
                code="target_not_empty",
            )
        return
    if revision != migrate.head_revision():
        raise Conflict(
            f"the database at {where} is at schema revision {revision}: restore only into an "
            "empty database",
            code="target_not_empty",
        )
    async with db.session() as session:
        for table in all_tables():
            rows = int(await session.scalar(select(func.count()).select_from(table)) or 0)
            if rows:
                raise Conflict(
                    f"the database at {where} is not empty ({table.name} has {rows} rows): "
                    "restore only into an empty database",
                    code="target_not_empty",
                )


class RestoreIncomplete(RagPlatformError):
    """Loading failed after the target was written to."""

    code = "restore_incomplete"


async def restore_backup(
    settings: Settings, archive_path: Path, *, progress: Progress = NO_PROGRESS
) -> LoadSummary:
    """Verify the archive, then load it into the empty deployment ``settings`` describe.

    Nothing is written before the archive is verified and the target found empty.
    """
    started = time.perf_counter()
    async with staged_archive(archive_path, progress) as archive:
        manifest = archive.manifest
        target = EmbeddingInfo(
            model=settings.embedding.model, dimension=settings.embedding.dimension
        )
        check_loadable(manifest, kind="backup", target=target)
        await asyncio.to_thread(check_data_dir_empty, settings.data_dir)
        async with open_deployment(settings, embedding=manifest.embedding) as deployment:
            await check_database_empty(deployment.db)
            tenants = await asyncio.to_thread(archived_tenants, archive)
            await _check_vectors_empty(deployment.vectors, tenants)
            docs = await asyncio.to_thread(archived_documents, archive)
            try:
                await migrate.upgrade(deployment.db)
                async with deployment.db.engine.begin() as conn:
                    rows = await load_rows(conn, archive, progress)
                chunks = await load_vectors(deployment.vectors, archive, docs, progress)
                originals = await load_originals(deployment, archive, docs, progress)
                await check_chunk_counts(deployment.vectors, docs, tenants)
            except RagPlatformError as exc:
                raise RestoreIncomplete(
                    f"{exc.detail}; the target holds a partial restore: empty the data dir and "
                    "the database before trying again"
                ) from exc
    return LoadSummary(
        tenants=tenants,
        rows=rows,
        documents=len(docs),
        chunks=chunks,
        originals=originals,
        requeued=len(manifest.consistency.requeued_documents),
        seconds=time.perf_counter() - started,
    )


async def _check_vectors_empty(vectors: VectorStore | None, tenants: list[str]) -> None:
    if vectors is None:
        return
    for tenant_id in tenants:
        if await vectors.count(tenant_id=tenant_id):
            raise Conflict(
                f"the vector store already holds chunks of tenant {tenant_id}: restore only "
                "into an empty vector store",
                code="target_not_empty",
            )
