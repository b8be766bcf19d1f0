"""Reading the metadata in one consistent snapshot while the platform keeps writing."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from ragplatform.backup.manifest import TenantRef
from ragplatform.backup.rows import TENANTS, all_tables, encode_row, tenant_tables
from ragplatform.db.engine import Database
from ragplatform.db.migrate import head_revision
from ragplatform.errors import Conflict, NotFound
from ragplatform.ports import ChunkRecord
from ragplatform.tenancy.models import Tenant

INGEST_JOB = "document.ingest"
_PARTITION = 500


@dataclass(frozen=True)
class DocRef:
    """What a backup needs to know of a document row."""

    tenant_id: str
    sha256: str
    version: int
    indexed_version: int | None
    chunk_count: int


@dataclass(frozen=True)
class StagedTable:
    """A table's rows written to a staging file as JSON lines."""

    table: Table
    path: Path
    rows: int


@dataclass
class Snapshot:
    """The metadata as one transaction saw it, staged on disk, plus an index of documents."""

    taken_at: dt.datetime
    revision: str
    tenant: TenantRef | None
    tenants: list[str] = field(default_factory=list)
    tables: list[StagedTable] = field(default_factory=list)
    documents: dict[str, DocRef] = field(default_factory=dict)
    active_ingest: set[tuple[str, int]] = field(default_factory=set)

    def indexed(self, chunk: ChunkRecord) -> bool:
        """Whether ``chunk`` belongs to the version its document had indexed at the snapshot."""
        doc = self.documents.get(chunk.document_id)
        return (
            doc is not None
            and doc.tenant_id == chunk.tenant_id
            and doc.indexed_version == chunk.document_version
        )

    def expected_chunks(self) -> int:
        """Chunks of every indexed document version, by the snapshot's counts."""
        return sum(d.chunk_count for d in self.documents.values() if d.indexed_version is not None)


@asynccontextmanager
async def snapshot_connection(db: Database) -> AsyncIterator[AsyncConnection]:
    """A read-only connection whose reads all see one snapshot of the database.

    PostgreSQL: a REPEATABLE READ, READ ONLY transaction. SQLite (WAL): an explicit deferred
    transaction, whose snapshot starts at its first read (the driver would otherwise run each
    SELECT in a transaction of its own).
    """
    async with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            await conn.begin()
        else:
            await conn.exec_driver_sql("BEGIN")
        try:
            yield conn
        finally:
            await conn.rollback()


def _append(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(encode_row(row))
            handle.write("\n")


async def _revision(conn: AsyncConnection) -> str:
    revision = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    head = head_revision()
    if revision != head:
        raise Conflict(
            f"the database is at schema revision {revision}, not this version's {head}: "
            "run `ragplatform migrate` first",
            code="schema_not_current",
        )
    return str(revision)


async def _tenant(conn: AsyncConnection, slug: str) -> TenantRef:
    tenants = Tenant.__table__
    row = (await conn.execute(select(tenants).where(tenants.c.slug == slug))).mappings().first()
    if row is None:
        raise NotFound(f"no tenant with slug {slug!r}", code="tenant_not_found")
    if row["status"] == "deleting":
        raise Conflict(f"tenant {slug!r} is being deleted", code="tenant_deleting")
    return TenantRef(id=str(row["id"]), slug=slug)


class _Collector:
    """Watches rows go by: documents, tenants and unfinished ingestion jobs."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def see(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        if table == TENANTS:
            self.snapshot.tenants.append(str(row["id"]))
        elif table == "documents":
            self.snapshot.documents[str(row["id"])] = DocRef(
                tenant_id=str(row["tenant_id"]),
                sha256=str(row["sha256"]),
                version=int(row["version"]),
                indexed_version=row["indexed_version"],
                chunk_count=int(row["chunk_count"]),
            )
        elif table == "jobs" and row["status"] in ("queued", "running"):
            if row["status"] == "running":  # it runs again wherever the archive is loaded
                row = {**row, "status": "queued", "run_after": None}
            payload = row["payload"] or {}
            if row["kind"] == INGEST_JOB and "document_id" in payload:
                self.snapshot.active_ingest.add(
                    (str(payload["document_id"]), int(payload["version"]))
                )
        return row


async def take_snapshot(db: Database, *, staging: Path, tenant_slug: str | None) -> Snapshot:
    """Stage every row (or one tenant's) from a single snapshot into ``staging``."""
    async with snapshot_connection(db) as conn:
        revision = await _revision(conn)
        tenant = None if tenant_slug is None else await _tenant(conn, tenant_slug)
        snapshot = Snapshot(taken_at=dt.datetime.now(dt.UTC), revision=revision, tenant=tenant)
        collector = _Collector(snapshot)
        tables = all_tables() if tenant is None else tenant_tables()
        for position, table in enumerate(tables):
            stmt = select(table)
            if tenant is not None:
                key = table.c.id if table.name == TENANTS else table.c.tenant_id
                stmt = stmt.where(key == uuid.UUID(tenant.id))
            path = staging / f"{position:02d}-{table.name}.jsonl"
            path.touch()
            count = 0
            result = await conn.stream(stmt)
            async for part in result.partitions(_PARTITION):
                rows = [collector.see(table.name, dict(row._mapping)) for row in part]
                await asyncio.to_thread(_append, path, rows)
                count += len(rows)
            snapshot.tables.append(StagedTable(table=table, path=path, rows=count))
    return snapshot
