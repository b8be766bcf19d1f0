"""Loading a verified archive: checks that it fits, then rows, chunks and originals.

Shared by a full restore and a tenant import. Only the chunks of the version each archived
document has indexed are loaded (see the consistency rule in the manifest).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from ragplatform.backup.chunk_lines import decode_chunk
from ragplatform.backup.deployment import Deployment
from ragplatform.backup.manifest import (
    ArchiveError,
    ArchiveKind,
    EmbeddingInfo,
    Manifest,
    metadata_name,
    original_name,
)
from ragplatform.backup.progress import Progress
from ragplatform.backup.rows import all_tables, decode_rows, tenant_tables
from ragplatform.backup.scratch import scratch_folder
from ragplatform.backup.verify import VerifiedArchive, read_archive
from ragplatform.db.migrate import head_revision
from ragplatform.errors import Conflict, Unavailable
from ragplatform.ports import ChunkRecord, VectorStore

ROW_BATCH = 500
CHUNK_BATCH = 256


@dataclass(frozen=True)
class ArchivedDoc:
    """A document row of the archive, as far as loading its chunks and original needs."""

    tenant_id: str
    sha256: str
    indexed_version: int | None
    chunk_count: int


@dataclass(frozen=True)
class LoadSummary:
    """What a restore or import loaded."""

    tenants: list[str]
    rows: int
    documents: int
    chunks: int
    originals: int
    requeued: int
    seconds: float = 0.0
    slug: str | None = None

    def describe(self) -> str:
        """One line for people."""
        return (
            f"{len(self.tenants)} tenant(s), {self.documents} document(s), {self.chunks} "
            f"chunk(s), {self.originals} original(s), {self.rows} row(s)"
            + (f"; {self.requeued} document(s) queued for re-indexing" if self.requeued else "")
        )


@asynccontextmanager
async def staged_archive(path: Path, progress: Progress) -> AsyncIterator[VerifiedArchive]:
    """The verified archive at ``path``, its entries extracted to a scratch folder."""
    async with scratch_folder("ragplatform-archive-") as folder:
        progress.start("verifying archive", None)
        yield await asyncio.to_thread(read_archive, path, stage=folder)


def check_loadable(manifest: Manifest, *, kind: ArchiveKind, target: EmbeddingInfo) -> None:
    """Refuse an archive of the wrong kind, schema revision or embedding model."""
    if manifest.kind != kind:
        command = (
            "ragplatform restore" if manifest.kind == "backup" else "ragplatform tenants import"
        )
        raise ArchiveError(f"this is a {manifest.kind} archive: load it with `{command}`")
    head = head_revision()
    if manifest.alembic_revision != head:
        raise ArchiveError(
            f"the archive was written at schema revision {manifest.alembic_revision} by "
            f"ragplatform {manifest.platform_version}; this version is at {head}: load it with "
            f"ragplatform {manifest.platform_version}, then upgrade"
        )
    source = manifest.embedding
    dimensions = {source.dimension, target.dimension} - {None}
    if source.model != target.model or len(dimensions) > 1:
        raise Conflict(
            f"the archive's vectors were made by {source.model}"
            + (f" ({source.dimension}-d)" if source.dimension else "")
            + "; this "
            f"deployment embeds with {target.model}"
            + (f" ({target.dimension}-d)" if target.dimension else ""),
            code="embedding_mismatch",
        )


def table_entries(archive: VerifiedArchive) -> list[tuple[Table, str]]:
    """The schema's tables the archive holds, with their entries, in load order."""
    kind = archive.manifest.kind
    tables = all_tables() if kind == "backup" else tenant_tables()
    present = set(archive.names("metadata/"))
    entries = []
    for position, table in enumerate(tables):
        name = metadata_name(position, table.name)
        if name not in present:
            raise ArchiveError(f"the archive lacks the rows of table {table.name} ({name})")
        entries.append((table, name))
    extra = present - {name for _, name in entries}
    if extra:
        raise ArchiveError(f"the archive holds rows this schema has no table for: {min(extra)}")
    return entries


def archived_documents(archive: VerifiedArchive) -> dict[str, ArchivedDoc]:
    """Every document row of the archive by id."""
    name = next(name for table, name in table_entries(archive) if table.name == "documents")
    docs = {}
    for line in archive.lines(name):
        row = json.loads(line)
        docs[str(row["id"])] = ArchivedDoc(
            tenant_id=str(row["tenant_id"]),
            sha256=str(row["sha256"]),
            indexed_version=row["indexed_version"],
            chunk_count=int(row["chunk_count"]),
        )
    return docs


def _row_batches(archive: VerifiedArchive, table: Table, name: str) -> Iterator[list[Any]]:
    batch: list[str] = []
    for line in archive.lines(name):
        batch.append(line)
        if len(batch) >= ROW_BATCH:
            yield decode_rows(table, batch)
            batch = []
    if batch:
        yield decode_rows(table, batch)


async def load_rows(conn: AsyncConnection, archive: VerifiedArchive, progress: Progress) -> int:
    """Insert every archived row, parents first; the counts must match the manifest."""
    expected = archive.manifest.tables
    progress.start("loading rows", sum(expected.values()))
    total = 0
    for table, name in table_entries(archive):
        batches = _row_batches(archive, table, name)
        loaded = 0
        try:
            while (rows := await asyncio.to_thread(next, batches, None)) is not None:
                await conn.execute(table.insert(), rows)
                loaded += len(rows)
                progress.advance(len(rows))
        except (ValueError, KeyError, json.JSONDecodeError) as exc:
            raise ArchiveError(f"the rows of table {table.name} are unreadable: {exc}") from None
        if loaded != expected.get(table.name):
            raise ArchiveError(
                f"table {table.name}: {loaded} rows, the manifest says {expected.get(table.name)}"
            )
        total += loaded
    return total


def _chunk_batches(
    path: Path, tenant_id: str, docs: dict[str, ArchivedDoc]
) -> Iterator[list[ChunkRecord]]:
    batch: list[ChunkRecord] = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            chunk = decode_chunk(line)
            doc = docs.get(chunk.document_id)
            if (
                doc is None
                or chunk.tenant_id != tenant_id
                or doc.tenant_id != tenant_id
                or doc.indexed_version != chunk.document_version
            ):
                continue  # a version the archived metadata does not point at
            batch.append(chunk)
            if len(batch) >= CHUNK_BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


async def load_vectors(
    vectors: VectorStore | None,
    archive: VerifiedArchive,
    docs: dict[str, ArchivedDoc],
    progress: Progress,
) -> int:
    """Upsert the chunks of every archived document's indexed version (no re-embedding)."""
    expected = sum(d.chunk_count for d in docs.values() if d.indexed_version is not None)
    progress.start("loading chunks", expected)
    if expected and vectors is None:
        raise ArchiveError("the archive holds chunks but names no embedding dimension")
    total = 0
    for name in archive.names("vectors/"):
        tenant_id = name.split("/")[1]
        batches = _chunk_batches(archive.path(name), tenant_id, docs)
        while (batch := await asyncio.to_thread(next, batches, None)) is not None:
            assert vectors is not None
            await vectors.upsert(tenant_id=tenant_id, chunks=batch)
            total += len(batch)
            progress.advance(len(batch))
    return total


async def load_originals(
    deployment: Deployment,
    archive: VerifiedArchive,
    docs: dict[str, ArchivedDoc],
    progress: Progress,
) -> int:
    """Store the original of every archived document."""
    wanted = sorted({(d.tenant_id, d.sha256) for d in docs.values()})
    progress.start("copying originals", len(wanted))
    for tenant_id, sha256 in wanted:
        source = archive.path(original_name(tenant_id, sha256))
        if not source.is_file():
            raise ArchiveError(f"the archive lacks the original {original_name(tenant_id, sha256)}")
        data = await asyncio.to_thread(source.read_bytes)
        await deployment.originals.save(uuid.UUID(tenant_id), sha256, data)
        progress.advance()
    return len(wanted)


async def check_chunk_counts(
    vectors: VectorStore | None, docs: dict[str, ArchivedDoc], tenants: list[str]
) -> None:
    """Every tenant's store count must equal its indexed documents' chunk counts."""
    if vectors is None:
        return
    for tenant_id in tenants:
        expected = sum(
            d.chunk_count
            for d in docs.values()
            if d.tenant_id == tenant_id and d.indexed_version is not None
        )
        found = await vectors.count(tenant_id=tenant_id)
        if found != expected:
            raise Unavailable(
                f"tenant {tenant_id}: the vector store holds {found} chunks after loading, "
                f"{expected} were expected",
                code="load_incomplete",
            )


def archived_tenants(archive: VerifiedArchive) -> list[str]:
    """The ids of the archive's tenants."""
    name = next(name for table, name in table_entries(archive) if table.name == "tenants")
    return [str(json.loads(line)["id"]) for line in archive.lines(name)]
