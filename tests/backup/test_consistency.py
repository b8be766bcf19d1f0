"""Backups of a platform that keeps working: ingestion running, documents deleted or replaced
while the archive is written. The archive is always self-consistent, decided deterministically."""

from __future__ import annotations

import asyncio
import json
import tarfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update

from ragplatform.backup.deployment import Deployment, open_deployment
from ragplatform.backup.manifest import MANIFEST
from ragplatform.backup.restore import restore_backup
from ragplatform.backup.verify import read_archive
from ragplatform.backup.writer import write_archive
from ragplatform.documents.models import Document
from ragplatform.jobs.models import Job
from ragplatform.ports import ChunkRecord, VectorStore
from ragplatform.settings import Settings
from tests.backup.support import serving
from tests.documents_support import create_collection, upload, wait_for
from tests.platform import ADMIN_KEY, Api, bearer, make_tenant
from tests.support import make_settings, migrate_to_head

WORDS = (
    *("river", "mountain", "forest", "harbor", "lantern", "copper", "violin", "orchard"),
    *("glacier", "meadow", "canyon", "falcon", "tundra", "prairie", "lagoon", "citadel"),
    *("monsoon", "quarry", "vineyard", "beacon"),
)


def _long_text(i: int) -> bytes:
    sentences = [
        f"Report {i} describes the {WORDS[(i + k) % len(WORDS)]} survey number {k}, "
        f"with notes on the {WORDS[(i * 3 + k) % len(WORDS)]} and its {WORDS[k % len(WORDS)]}."
        for k in range(40)
    ]
    return " ".join(sentences).encode()


async def _all_chunks(vectors: VectorStore, tenant_id: str) -> list[ChunkRecord]:
    return [c async for batch in vectors.export_chunks(tenant_id=tenant_id) for c in batch]


async def _check_invariant(settings: Settings, tenant_id: str) -> dict[str, Any]:
    """Every indexed document has exactly its chunks; no chunk lacks its document."""
    async with open_deployment(settings) as deployment:
        assert deployment.vectors is not None
        async with deployment.db.session() as session:
            docs = (await session.scalars(select(Document))).all()
        chunks = await _all_chunks(deployment.vectors, tenant_id)
    by_doc: dict[str, set[int]] = {}
    for chunk in chunks:
        by_doc.setdefault(chunk.document_id, set()).add(chunk.document_version)
    indexed = {str(d.id): d for d in docs if d.indexed_version is not None}
    assert set(by_doc) == set(indexed), "every chunk belongs to an indexed document"
    for doc_id, doc in indexed.items():
        assert by_doc[doc_id] == {doc.indexed_version}
        assert sum(c.document_id == doc_id for c in chunks) == doc.chunk_count
    return {str(d.id): d.status for d in docs}


def _searches(api: Api, key: str) -> dict[str, list[tuple[str, str, float]]]:
    """Dense and keyword hits of queries about this corpus (hybrid's fused scores depend on
    which tied keyword candidates fill its prefetch, so they are compared elsewhere)."""
    found = {}
    for query in ("glacier survey", "violin orchard notes", "Report 7 describes the falcon"):
        for mode in ("dense", "keyword"):
            response = api.client.post(
                "/api/v1/search",
                json={"query": query, "mode": mode, "top_k": 5},
                headers=bearer(key),
            )
            assert response.status_code == 200, response.text
            found[f"{mode}:{query}"] = [
                (h["chunk_id"], h["document_id"], h["score"]) for h in response.json()["hits"]
            ]
    return found


def _wait_all_ready(api: Api, key: str, ids: list[str]) -> None:
    for doc_id in ids:
        assert wait_for(api.client, key, doc_id, timeout_s=300)["status"] == "ready"


def test_backup_while_ingesting_is_consistent_and_restores(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "a")
    migrate_to_head(settings)
    archive = tmp_path / "online.tar"
    searches: list[tuple[float, int]] = []
    with serving(settings) as api:
        acme = make_tenant(api, "acme")
        collection = create_collection(api.client, acme.owner_key, "reports")
        ids: list[str] = []
        for batch in range(2):
            files = {f"r{batch}-{i}.txt": _long_text(batch * 20 + i) for i in range(12)}
            response = upload(api.client, acme.owner_key, collection, files)
            assert response.status_code == 202, response.text
            ids += [d["id"] for d in response.json()["documents"]]
        _wait_all_ready(api, acme.owner_key, ids[:2])  # jobs run oldest first: others wait
        backing_up = threading.Event()

        def keep_searching() -> None:
            while not backing_up.is_set():
                time.sleep(0.01)
            while backing_up.is_set():
                r = api.client.post(
                    "/api/v1/search",
                    json={"query": "glacier survey", "top_k": 3},
                    headers=bearer(acme.owner_key),
                )
                searches.append((time.monotonic(), r.status_code))

        searcher = threading.Thread(target=keep_searching)
        searcher.start()
        started = time.monotonic()
        backing_up.set()
        try:
            with (
                api.client.stream("GET", "/api/v1/admin/backup", headers=bearer(ADMIN_KEY)) as r,
                archive.open("wb") as out,
            ):
                assert r.status_code == 200
                assert r.headers["content-type"] == "application/x-tar"
                assert "attachment" in r.headers["content-disposition"]
                for block in r.iter_bytes():
                    out.write(block)
        finally:
            backing_up.clear()
            searcher.join()
        finished = time.monotonic()
        _wait_all_ready(api, acme.owner_key, ids)
        final = _searches(api, acme.owner_key)

    assert searches and {status for _, status in searches} == {200}
    assert any(started <= at <= finished for at, _ in searches), "search served during the backup"
    manifest = read_archive(archive).manifest
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        documents = next(n for n in names if n.endswith("-documents.jsonl"))
        rows = [json.loads(line) for line in tar.extractfile(documents)]  # type: ignore[union-attr]
    statuses = {row["status"] for row in rows}
    assert len(rows) == len(ids)
    assert "ready" in statuses and statuses - {"ready"}, f"ingestion was running: {statuses}"
    assert names[-2:] == [MANIFEST, "manifest.sha256"]
    assert manifest.chunks >= sum(r["chunk_count"] for r in rows if r["indexed_version"])

    restored = make_settings(tmp_path / "b")
    asyncio.run(restore_backup(restored, archive))
    before_jobs = asyncio.run(_check_invariant(restored, acme.id))
    assert set(before_jobs) == set(ids)
    with serving(restored) as api:  # the restored server finishes what was queued
        _wait_all_ready(api, acme.owner_key, ids)
        again = _searches(api, acme.owner_key)
    assert again.keys() == final.keys()
    for query, hits in final.items():
        # Documents queued at the snapshot were embedded again after the restore (in other
        # batches: last-digit float noise). Dense: the same chunks and scores. Keyword: the same
        # scores, but equal scores (this corpus has many) may come back in another order.
        assert len(again[query]) == len(hits), query
        for got, want in zip(again[query], hits, strict=True):
            assert abs(got[2] - want[2]) < 1e-4, query
            assert got[:2] == want[:2] or query.startswith("keyword:"), query


class _ChangingStore:
    """A store that, when the export starts, applies changes committed after the snapshot."""

    def __init__(self, deployment: Deployment, changes: Any) -> None:
        self._inner = deployment.vectors
        self._changes = changes
        self._applied = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def export_chunks(
        self, *, tenant_id: str, batch_size: int = 256
    ) -> AsyncIterator[list[ChunkRecord]]:
        if not self._applied:
            self._applied = True
            await self._changes()
        assert self._inner is not None
        async for batch in self._inner.export_chunks(tenant_id=tenant_id, batch_size=batch_size):
            yield batch


def test_documents_changed_during_the_backup_are_requeued_or_left_out(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "a")
    migrate_to_head(settings)
    with serving(settings) as api:
        acme = make_tenant(api, "acme")
        collection = create_collection(api.client, acme.owner_key)
        texts = {f"{name}.txt": f"The {name} handbook chapter.".encode() for name in "xyzw"}
        uploaded = upload(api.client, acme.owner_key, collection, texts).json()["documents"]
        docs = {d["source"][0]: d["id"] for d in uploaded}
        _wait_all_ready(api, acme.owner_key, list(docs.values()))
    deleted, reindexed, lost = (uuid.UUID(docs[k]) for k in "xyz")

    async def run(out: Path) -> Any:
        async with open_deployment(settings) as deployment:
            vectors = deployment.vectors
            assert vectors is not None
            tenant = acme.id

            async def changes() -> None:
                # x: deleted (chunks, row and original) after the snapshot
                await vectors.delete_document(tenant_id=tenant, document_id=str(deleted))
                async with deployment.db.session() as session:
                    doc = await session.get(Document, deleted)
                    assert doc is not None
                    sha = doc.sha256
                    await session.execute(delete(Document).where(Document.id == deleted))
                    await session.commit()
                await deployment.originals.delete(uuid.UUID(tenant), sha)
                # y: re-indexed as version 2, the old version's chunks already dropped
                old = [
                    c for c in await _all_chunks(vectors, tenant) if c.document_id == str(reindexed)
                ]
                await vectors.upsert(
                    tenant_id=tenant,
                    chunks=[replace(c, id=uuid.uuid4(), document_version=2) for c in old],
                )
                async with deployment.db.session() as session:
                    await session.execute(
                        update(Document)
                        .where(Document.id == reindexed)
                        .values(version=2, indexed_version=2)
                    )
                    await session.commit()
                await vectors.delete_document(
                    tenant_id=tenant, document_id=str(reindexed), except_version=2
                )
                # z: its original vanished (a damaged disk), its chunks are fine
                async with deployment.db.session() as session:
                    doc = await session.get(Document, lost)
                    assert doc is not None
                    deployment.originals.path(uuid.UUID(tenant), doc.sha256).unlink()

            changing = replace(deployment, vectors=_ChangingStore(deployment, changes))
            with out.open("wb") as sink:
                return await write_archive(changing, sink, compress=False)

    manifest = asyncio.run(run(tmp_path / "b.tar"))
    consistency = manifest.consistency
    assert consistency.requeued_documents == [str(reindexed)]
    dropped = {d.id: d.reason for d in consistency.dropped_documents}
    assert dropped == {
        str(deleted): "its original is missing",
        str(lost): "its original is missing",
    }
    assert manifest.tables["documents"] == 2

    restored = make_settings(tmp_path / "restored")
    asyncio.run(restore_backup(restored, tmp_path / "b.tar"))
    statuses = asyncio.run(_check_invariant(restored, acme.id))
    assert statuses == {str(reindexed): "queued", docs["w"]: "ready"}

    async def requeue_job() -> Job:
        async with open_deployment(restored) as deployment, deployment.db.session() as session:
            doc = await session.get(Document, reindexed)
            assert doc is not None and doc.job_id is not None
            job = await session.get(Job, doc.job_id)
            assert job is not None
            return job

    job = asyncio.run(requeue_job())
    assert (job.status, job.payload) == ("queued", {"document_id": str(reindexed), "version": 1})
    with serving(restored) as api:  # the restored server re-indexes it from its original
        final = wait_for(api.client, acme.owner_key, str(reindexed), timeout_s=120)
        assert final["status"] == "ready" and final["chunk_count"] >= 1
    asyncio.run(_check_invariant(restored, acme.id))
