"""Moving a tenant between deployments and vector backends, without re-embedding."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from ragplatform.backup.deployment import open_deployment
from ragplatform.backup.loading import LoadSummary
from ragplatform.backup.manifest import EmbeddingInfo
from ragplatform.backup.tenant_transfer import import_tenant
from ragplatform.errors import Conflict, Unavailable
from ragplatform.jobs.models import Job
from ragplatform.settings import Settings
from ragplatform.tenancy.models import AuditEvent, Tenant
from tests.backup.support import Corpus, backup_offline, observe, originals, populate, serving
from tests.platform import ADMIN_KEY, bearer
from tests.support import make_settings, migrate_to_head


def _deployment(root: Path, slugs: tuple[str, ...], **overrides: Any) -> tuple[Settings, Corpus]:
    settings = make_settings(root, **overrides)
    migrate_to_head(settings)
    with serving(settings) as api:
        corpus = populate(api, slugs)
    return settings, corpus


def _import(settings: Settings, archive: Path, **kwargs: Any) -> LoadSummary:
    async def run() -> LoadSummary:
        embedding = EmbeddingInfo(model=settings.embedding.model, dimension=384)
        async with open_deployment(settings, embedding=embedding) as opened:
            deployment = opened
            if "vectors" in kwargs:
                deployment = replace(opened, vectors=kwargs.pop("vectors")(opened))
            return await import_tenant(deployment, archive, actor="test", **kwargs)

    return asyncio.run(run())


def _count(settings: Settings, model: Any, *where: Any) -> int:
    async def run() -> int:
        async with open_deployment(settings) as deployment, deployment.db.session() as session:
            return int(await session.scalar(select(func.count()).select_from(model).where(*where)))

    return asyncio.run(run())


def test_a_tenant_moves_between_running_deployments_through_the_api(tmp_path: Path) -> None:
    source, corpus = _deployment(tmp_path / "a", ("acme", "globex"))
    target, other = _deployment(tmp_path / "b", ("initech",))
    archive = tmp_path / "acme.tar.gz"
    with serving(source) as api:
        expected = observe(api, corpus, ("acme",))
        with api.client.stream(
            "GET",
            "/api/v1/admin/tenants/acme/export",
            params={"gzip": True},
            headers=bearer(ADMIN_KEY),
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/gzip"
            assert "tenant-acme-" in response.headers["content-disposition"]
            archive.write_bytes(b"".join(response.iter_bytes()))
    with serving(target) as api:
        untouched = observe(api, other)
        response = api.client.post(
            "/api/v1/admin/tenants/import", content=archive.read_bytes(), headers=bearer(ADMIN_KEY)
        )
        assert response.status_code == 201, response.text
        result = response.json()
        assert result["slug"] == "acme" and result["tenant_id"] == corpus.tenant_ids["acme"]
        assert result["documents"] == len(corpus.documents["acme"])
        assert result["chunks"] == sum(len(c) for c in expected["acme"]["chunks"].values())
        assert observe(api, corpus, ("acme",)) == expected  # acme's keys work here now
        assert observe(api, other) == untouched
        slugs = api.client.get("/api/v1/tenants", headers=bearer(ADMIN_KEY)).json()["items"]
        assert sorted(t["slug"] for t in slugs) == ["acme", "initech"]  # globex stayed behind
        again = api.client.post(
            "/api/v1/admin/tenants/import", content=archive.read_bytes(), headers=bearer(ADMIN_KEY)
        )
        assert again.status_code == 409
        assert again.json()["code"] == "slug_taken"
        assert "already exists" in again.json()["detail"]
    acme_files = {
        k: v for k, v in originals(source.data_dir).items() if corpus.tenant_ids["acme"] in k
    }
    assert acme_files.items() <= originals(target.data_dir).items()
    assert _count(target, AuditEvent, AuditEvent.action == "tenant.imported") == 1


def test_a_tenant_archive_holds_only_that_tenant(tmp_path: Path) -> None:
    source, corpus = _deployment(tmp_path / "a", ("acme", "globex"))
    manifest = backup_offline(source, tmp_path / "acme.tar", tenant="acme")
    assert manifest.kind == "tenant"
    assert manifest.tenant is not None and manifest.tenant.slug == "acme"
    assert manifest.tables["tenants"] == 1
    assert manifest.tables["documents"] == len(corpus.documents["acme"])
    assert "refresh_tokens" not in manifest.tables  # sessions stay with their deployment
    assert {e.name.split("/")[1] for e in manifest.entries if e.name.startswith("vectors/")} == {
        corpus.tenant_ids["acme"]
    }
    with pytest.raises(Exception, match="no tenant with slug 'nobody'"):
        backup_offline(source, tmp_path / "nobody.tar", tenant="nobody")


def test_import_refuses_ids_that_exist_and_leaves_nothing_when_loading_fails(
    tmp_path: Path,
) -> None:
    source, corpus = _deployment(tmp_path / "a", ("acme",))
    archive = tmp_path / "acme.tar"
    backup_offline(source, archive, tenant="acme")
    target = make_settings(tmp_path / "c")
    migrate_to_head(target)

    class FailingStore:
        """Writes the first batch, then fails: the import must remove what it loaded."""

        def __init__(self, deployment: Any) -> None:
            self.inner = deployment.vectors

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        async def upsert(self, *, tenant_id: str, chunks: Any) -> None:
            await self.inner.upsert(tenant_id=tenant_id, chunks=chunks)
            raise Unavailable("the vector store went away", code="vector_store_unavailable")

    with pytest.raises(Unavailable):
        _import(target, archive, vectors=FailingStore)
    tenant_id = corpus.tenant_ids["acme"]
    assert _count(target, Tenant) == 0
    assert _count(target, Job) == 0
    assert not (target.data_dir / "tenants" / tenant_id).exists()

    async def chunks_left() -> int:
        embedding = EmbeddingInfo(model=target.embedding.model, dimension=384)
        async with open_deployment(target, embedding=embedding) as deployment:
            assert deployment.vectors is not None
            return await deployment.vectors.count(tenant_id=tenant_id)

    assert asyncio.run(chunks_left()) == 0

    summary = _import(target, archive)
    assert summary.slug == "acme" and summary.documents == len(corpus.documents["acme"])

    async def rename() -> None:
        async with open_deployment(target) as deployment, deployment.db.session() as session:
            await session.execute(update(Tenant).values(slug="acme-old"))
            await session.commit()

    asyncio.run(rename())
    with pytest.raises(Conflict, match="already exists in this deployment") as caught:
        _import(target, archive)
    assert caught.value.code == "ids_taken"


def test_a_tenant_moves_from_qdrant_to_milvus_without_re_embedding(tmp_path: Path) -> None:
    source, corpus = _deployment(tmp_path / "qdrant", ("acme", "globex"))
    with serving(source) as api:
        expected = observe(api, corpus, ("acme",))["acme"]
    archive = tmp_path / "acme.tar.gz"
    manifest = backup_offline(source, archive, tenant="acme")
    assert manifest.vector_backend == "qdrant-edge"

    milvus = make_settings(tmp_path / "milvus", vector={"backend": "milvus"})
    migrate_to_head(milvus)
    summary = _import(milvus, archive)
    assert summary.chunks == manifest.chunks
    with serving(milvus) as api:
        found = observe(api, corpus, ("acme",))["acme"]
    assert found["documents"] == expected["documents"]
    assert found["chunks"] == expected["chunks"]
    for query, hits in expected["search"].items():
        got = found["search"][query]
        if query.startswith("dense:"):  # the same vectors: the same ranking and scores
            assert [h[:2] for h in got] == [h[:2] for h in hits], query
            assert all(abs(g[2] - h[2]) < 1e-4 for g, h in zip(got, hits, strict=True))
        else:  # BM25 is rebuilt by Milvus and fused by RRF: the same top result
            assert [h[1] for h in got[:1]] == [h[1] for h in hits[:1]], query
