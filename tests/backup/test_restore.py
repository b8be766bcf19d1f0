"""Backup, lose the data dir, restore into a fresh one: the platform answers exactly as before."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from ragplatform.adapters.vectorstores.qdrant_edge import QdrantEdgeStore
from ragplatform.backup import restore
from ragplatform.backup.loading import archived_tenants
from ragplatform.backup.restore import restore_backup
from ragplatform.backup.verify import read_archive
from ragplatform.db import migrate
from ragplatform.db.engine import Database
from ragplatform.db.models import metadata
from ragplatform.errors import Conflict
from ragplatform.settings import Settings
from tests.backup.support import backup_offline, observe, originals, populate, serving
from tests.contract.vector_data import DIM, chunk
from tests.support import make_settings, migrate_to_head


def test_restore_into_a_fresh_data_dir_answers_the_same(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    migrate_to_head(settings)
    with serving(settings) as api:
        corpus = populate(api)
        before = observe(api, corpus)
    stored = originals(settings.data_dir)
    archive = tmp_path / "platform.tar.gz"
    manifest = backup_offline(settings, archive)
    assert manifest.tables["tenants"] == 2
    assert manifest.tables["documents"] == sum(len(d) for d in corpus.documents.values())
    assert manifest.chunks == sum(len(c) for s in before.values() for c in s["chunks"].values())
    assert manifest.consistency.requeued_documents == []

    shutil.rmtree(settings.data_dir)
    summary = asyncio.run(restore_backup(settings, archive))
    assert summary.chunks == manifest.chunks
    assert summary.documents == manifest.tables["documents"]

    assert originals(settings.data_dir) == stored
    with serving(settings) as api:  # the old keys still work: they are restored rows
        after = observe(api, corpus)
    assert after == before


@pytest.fixture(scope="module")
def small_backup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("small")
    settings = make_settings(root / "data")
    migrate_to_head(settings)
    with serving(settings) as api:
        populate(api, ("acme",))
    backup_offline(settings, root / "small.tar")
    return root / "small.tar"


def test_restore_refuses_databases_that_are_not_empty(small_backup: Path, tmp_path: Path) -> None:
    async def prepare(settings: Settings, how: str) -> None:
        db = Database(settings.database_url, settings.database)
        try:
            if how == "tables without revision":
                async with db.engine.begin() as conn:
                    await conn.run_sync(metadata.create_all)
            else:
                await migrate.upgrade(db)
                await migrate.downgrade(db, "-1")
        finally:
            await db.dispose()

    for how, message in (
        ("tables without revision", "but no schema revision"),
        ("older revision", "is at schema revision"),
    ):
        settings = make_settings(tmp_path / how.replace(" ", "-"))
        asyncio.run(prepare(settings, how))
        with pytest.raises(Conflict, match=message):
            asyncio.run(restore_backup(settings, small_backup))
        assert not (settings.data_dir / "tenants").exists()


def test_restore_refuses_a_vector_store_with_the_tenants_chunks(
    small_backup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path / "data")
    tenant_id = archived_tenants(read_archive(small_backup, stage=tmp_path / "s"))[0]
    path = QdrantEdgeStore.path_for(
        settings.data_dir, collection_prefix="ragplatform", model="all-MiniLM-L6-v2", dimension=DIM
    )

    async def leftover() -> None:
        store = QdrantEdgeStore.open(path, dimension=DIM, indexing_threshold_kb=20_000)
        await store.upsert(tenant_id=tenant_id, chunks=[chunk(tenant_id)])
        await store.close()

    asyncio.run(leftover())
    with pytest.raises(Conflict, match="vectors/ holds data"):
        asyncio.run(restore_backup(settings, small_backup))
    monkeypatch.setattr(restore, "check_data_dir_empty", lambda data_dir: None)  # a vector server
    with pytest.raises(Conflict, match=f"already holds chunks of tenant {tenant_id}"):
        asyncio.run(restore_backup(settings, small_backup))
