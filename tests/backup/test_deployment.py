"""Opening a deployment: its backend's name, the embedding model its collections were made with."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from ragplatform.backup.deployment import backend_name, embedding_in_use, open_deployment
from ragplatform.backup.manifest import EmbeddingInfo
from ragplatform.db.engine import Database
from ragplatform.documents.models import Collection
from ragplatform.errors import Conflict, StartupError
from ragplatform.settings import Settings
from ragplatform.tenancy.models import Tenant
from tests.support import make_settings

MINILM = EmbeddingInfo(model="all-MiniLM-L6-v2", dimension=384)


def test_backend_names_and_the_embedding_in_use(migrated: Settings, tmp_path: Path) -> None:
    assert backend_name(migrated) == "qdrant-edge"
    assert backend_name(make_settings(tmp_path, vector={"qdrant_url": "http://q:6333"})) == (
        "qdrant-server"
    )
    assert backend_name(make_settings(tmp_path, vector={"backend": "milvus"})) == "milvus-lite"
    milvus = make_settings(tmp_path, vector={"backend": "milvus", "milvus_uri": "http://m:19530"})
    assert backend_name(milvus) == "milvus-server"

    async def run() -> None:
        db = Database(migrated.database_url, migrated.database)
        try:
            assert await embedding_in_use(db, migrated) == EmbeddingInfo(model=MINILM.model)
            async with db.session() as session:
                tenant = Tenant(slug="t", name="t")
                session.add(tenant)
                await session.flush()
                for name, model, dim in (("a", MINILM.model, 384), ("b", MINILM.model, 768)):
                    session.add(
                        Collection(
                            tenant_id=tenant.id, name=name, embedding_model=model, embedding_dim=dim
                        )
                    )
                await session.commit()
            with pytest.raises(Conflict, match="several sizes"):
                await embedding_in_use(db, migrated)
            other = make_settings(migrated.data_dir, embedding={"model": "other"})
            with pytest.raises(Conflict, match="RAG_EMBEDDING__MODEL is other"):
                await embedding_in_use(db, other)
        finally:
            await db.dispose()

    asyncio.run(run())


def test_a_deployment_without_schema_does_not_open(settings: Settings) -> None:
    async def run() -> None:
        async with open_deployment(settings):
            raise AssertionError("opened")

    with pytest.raises(StartupError, match="no schema yet"):
        asyncio.run(run())
    shutil.rmtree(settings.data_dir, ignore_errors=True)
