"""Writing a backup (or one tenant) while the platform keeps serving.

1. The metadata is read in one database snapshot and staged to a temporary folder.
2. Each tenant's chunks are exported; only those of the version each document had indexed in
   the snapshot are kept, and streamed out in parts.
3. The originals the snapshot's documents name are streamed out.
4. Documents whose chunks changed meanwhile (deleted, replaced, re-indexed) are written as
   queued with an ingestion job, so a restore re-indexes them from their original; documents
   whose original is gone or damaged are left out. Both are listed in the manifest.
5. The metadata, then the manifest, end the archive.

Database reads are async; encoding, staging and tar writing run in threads, so the event loop
of a serving process is never blocked for long.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, BinaryIO

from ragplatform import __version__
from ragplatform.backup.chunk_lines import append_chunks
from ragplatform.backup.deployment import Deployment
from ragplatform.backup.manifest import (
    Consistency,
    Manifest,
    SkippedDocument,
    metadata_name,
    original_name,
    vectors_name,
)
from ragplatform.backup.progress import NO_PROGRESS, Progress
from ragplatform.backup.rows import encode_row
from ragplatform.backup.scratch import scratch_folder
from ragplatform.backup.snapshot import INGEST_JOB, Snapshot, take_snapshot
from ragplatform.backup.tarball import ArchiveWriter

PART_CHUNKS = 4096  # chunks per vectors entry (a part ends at the first batch past it)
EXPORT_BATCH = 256
# Ingestion jobs a backup adds for re-indexing get ids derived from (document, version).
_REQUEUE_NAMESPACE = uuid.UUID("2b0f3f8e-8c1d-4e55-a3d6-7f1e0c9b4a21")


async def write_archive(
    deployment: Deployment,
    sink: BinaryIO,
    *,
    compress: bool,
    tenant_slug: str | None = None,
    progress: Progress = NO_PROGRESS,
) -> Manifest:
    """Write a backup (or, with ``tenant_slug``, a tenant archive) into ``sink``."""
    async with scratch_folder("ragplatform-backup-") as staging:
        progress.start("reading metadata", None)
        snapshot = await take_snapshot(deployment.db, staging=staging, tenant_slug=tenant_slug)
        writer = await asyncio.to_thread(ArchiveWriter, sink, compress=compress)
        exported, chunks = await _write_vectors(deployment, snapshot, writer, staging, progress)
        dropped, originals = await _write_originals(deployment, snapshot, writer, progress)
        requeued = sorted(
            doc_id
            for doc_id, ref in snapshot.documents.items()
            if ref.indexed_version is not None
            and exported[doc_id] != ref.chunk_count
            and doc_id not in dropped
        )
        progress.start("writing metadata", None)
        tables = await asyncio.to_thread(
            _write_metadata,
            writer,
            snapshot=snapshot,
            staging=staging,
            dropped=dropped,
            requeued=requeued,
            max_attempts=deployment.max_attempts,
        )
        manifest = Manifest(
            kind="backup" if tenant_slug is None else "tenant",
            platform_version=__version__,
            alembic_revision=snapshot.revision,
            embedding=deployment.embedding,
            vector_backend=deployment.vector_backend,
            database_backend=deployment.db.backend,
            created_at=dt.datetime.now(dt.UTC),
            tenant=snapshot.tenant,
            tables=tables,
            chunks=chunks,
            originals=originals,
            consistency=Consistency(
                snapshot_at=snapshot.taken_at,
                requeued_documents=requeued,
                dropped_documents=[
                    SkippedDocument(id=doc_id, reason=reason)
                    for doc_id, reason in sorted(dropped.items())
                ],
            ),
            entries=list(writer.entries),
        )
        await asyncio.to_thread(writer.finish, manifest)
    return manifest


def _add_part(writer: ArchiveWriter, name: str, path: Path) -> None:
    writer.add_file(name, path)
    path.unlink()


async def _write_vectors(
    deployment: Deployment,
    snapshot: Snapshot,
    writer: ArchiveWriter,
    staging: Path,
    progress: Progress,
) -> tuple[Counter[str], int]:
    """Stream each tenant's chunks of the snapshot's indexed versions; count them per document."""
    exported: Counter[str] = Counter()
    total = 0
    progress.start("exporting chunks", snapshot.expected_chunks())
    if deployment.vectors is None:
        return exported, total
    path = staging / "part.jsonl"
    for tenant_id in snapshot.tenants:
        part, in_part = 0, 0
        async for batch in deployment.vectors.export_chunks(
            tenant_id=tenant_id, batch_size=EXPORT_BATCH
        ):
            keep = [chunk for chunk in batch if snapshot.indexed(chunk)]
            if not keep:
                continue
            await asyncio.to_thread(append_chunks, path, keep)
            exported.update(chunk.document_id for chunk in keep)
            in_part += len(keep)
            total += len(keep)
            progress.advance(len(keep))
            if in_part >= PART_CHUNKS:
                part += 1
                await asyncio.to_thread(_add_part, writer, vectors_name(tenant_id, part), path)
                in_part = 0
        if in_part:
            await asyncio.to_thread(_add_part, writer, vectors_name(tenant_id, part + 1), path)
    return exported, total


def _add_original(writer: ArchiveWriter, name: str, path: Path, sha256: str) -> str | None:
    """Stream one original; the reason it is unusable, or None."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return "its original is missing"
    with handle:
        entry = writer.add_stream(name, handle, os.fstat(handle.fileno()).st_size)
    return None if entry.sha256 == sha256 else "its original is damaged (checksum mismatch)"


async def _write_originals(
    deployment: Deployment, snapshot: Snapshot, writer: ArchiveWriter, progress: Progress
) -> tuple[dict[str, str], int]:
    """Stream the originals of the snapshot's documents; documents to leave out, and why."""
    wanted = sorted({(ref.tenant_id, ref.sha256) for ref in snapshot.documents.values()})
    progress.start("copying originals", len(wanted))
    unusable: dict[tuple[str, str], str] = {}
    written = 0
    for tenant_id, sha256 in wanted:
        path = deployment.originals.path(uuid.UUID(tenant_id), sha256)
        name = original_name(tenant_id, sha256)
        reason = await asyncio.to_thread(_add_original, writer, name, path, sha256)
        if reason is None:
            written += 1
        else:
            unusable[(tenant_id, sha256)] = reason
        progress.advance()
    dropped = {
        doc_id: unusable[(ref.tenant_id, ref.sha256)]
        for doc_id, ref in snapshot.documents.items()
        if (ref.tenant_id, ref.sha256) in unusable
    }
    return dropped, written


def requeue_job(doc_id: str, tenant_id: str, version: int, max_attempts: int) -> dict[str, Any]:
    """A queued ingestion job row that re-indexes a document from its original."""
    now = dt.datetime.now(dt.UTC)
    return {
        "id": uuid.uuid5(_REQUEUE_NAMESPACE, f"{doc_id}/{version}"),
        "tenant_id": tenant_id,
        "kind": INGEST_JOB,
        "status": "queued",
        "payload": {"document_id": doc_id, "version": version},
        "progress": 0.0,
        "attempts": 0,
        "max_attempts": max_attempts,
        "error": None,
        "run_after": None,
        "started_at": None,
        "finished_at": None,
        "created_at": now,
        "updated_at": now,
    }


def _rewrite_documents(
    source: Path, target: Path, dropped: dict[str, str], requeued: dict[str, str | None]
) -> int:
    rows = 0
    with source.open(encoding="utf-8") as lines, target.open("w", encoding="utf-8") as out:
        for line in lines:
            row = json.loads(line)
            if row["id"] in dropped:
                continue
            if row["id"] in requeued:
                row.update(status="queued", indexed_version=None, chunk_count=0, error=None)
                row["job_id"] = requeued[row["id"]] or row["job_id"]
            out.write(encode_row(row) + "\n")
            rows += 1
    return rows


def _write_metadata(
    writer: ArchiveWriter,
    *,
    snapshot: Snapshot,
    staging: Path,
    dropped: dict[str, str],
    requeued: list[str],
    max_attempts: int,
) -> dict[str, int]:
    """Write every staged table, applying the requeue/drop decisions; rows per table."""
    jobs: dict[str, dict[str, Any]] = {}
    for doc_id in requeued:
        ref = snapshot.documents[doc_id]
        if (doc_id, ref.version) not in snapshot.active_ingest:
            jobs[doc_id] = requeue_job(doc_id, ref.tenant_id, ref.version, max_attempts)
    job_ids = {doc_id: str(job["id"]) for doc_id, job in jobs.items()}
    counts: dict[str, int] = {}
    for position, staged in enumerate(snapshot.tables):
        path, rows = staged.path, staged.rows
        if staged.table.name == "documents" and (dropped or requeued):
            path = staging / "documents.rewritten.jsonl"
            marks: dict[str, str | None] = {doc_id: job_ids.get(doc_id) for doc_id in requeued}
            rows = _rewrite_documents(staged.path, path, dropped, marks)
        elif staged.table.name == "jobs" and jobs:
            with path.open("a", encoding="utf-8") as out:
                for job in jobs.values():
                    out.write(encode_row(job) + "\n")
            rows += len(jobs)
        writer.add_file(metadata_name(position, staged.table.name), path)
        counts[staged.table.name] = rows
    return counts
