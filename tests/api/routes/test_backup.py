"""/api/v1/admin: streamed backups and tenant archives, tenant imports (platform admins only)."""

from __future__ import annotations

import asyncio
import io
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import select, update

from ragplatform.backup.verify import read_archive
from ragplatform.db.engine import Database
from ragplatform.settings import Settings
from ragplatform.tenancy.models import AuditEvent, Tenant
from tests.documents_support import create_collection, upload, wait_for
from tests.platform import ADMIN_KEY, Api, TenantFixture, bearer

ADMIN = bearer(ADMIN_KEY)
PROBLEM = "application/problem+json"


def _download(api: Api, path: str, target: Path, **params: object) -> Path:
    with api.client.stream("GET", path, params=params, headers=ADMIN) as response:
        assert response.status_code == 200, response.read()
        target.write_bytes(b"".join(response.iter_bytes()))
    return target


def _db_run(settings: Settings, statement: object, *, fetch: bool = False) -> list[object]:
    async def run() -> list[object]:
        db = Database(settings.database_url, settings.database)
        try:
            async with db.session() as session:
                result = await session.execute(statement)  # type: ignore[call-overload]
                rows = list(result.scalars()) if fetch else []
                await session.commit()
                return rows
        finally:
            await db.dispose()

    return asyncio.run(run())


@pytest.fixture
def indexed(api: Api, acme: TenantFixture) -> str:
    """acme with one indexed document."""
    collection = create_collection(api.client, acme.owner_key)
    doc = upload(api.client, acme.owner_key, collection, {"a.txt": b"Otters hold hands."})
    doc_id = doc.json()["documents"][0]["id"]
    assert wait_for(api.client, acme.owner_key, doc_id)["status"] == "ready"
    return str(doc_id)


@pytest.mark.parametrize("compress", [False, True])
def test_backup_streams_a_verifiable_archive(
    api: Api, indexed: str, migrated: Settings, tmp_path: Path, compress: bool
) -> None:
    with api.client.stream(
        "GET", "/api/v1/admin/backup", params={"gzip": compress}, headers=ADMIN
    ) as response:
        assert response.status_code == 200
        kind = "application/gzip" if compress else "application/x-tar"
        assert response.headers["content-type"] == kind
        disposition = response.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="ragplatform-backup-')
        assert disposition.endswith('.tar.gz"' if compress else '.tar"')
        body = b"".join(response.iter_bytes())
    path = tmp_path / "backup.tar"
    path.write_bytes(body)
    manifest = read_archive(path).manifest
    assert manifest.kind == "backup" and manifest.chunks >= 1 and manifest.originals == 1
    assert manifest.embedding.model == "all-MiniLM-L6-v2" and manifest.embedding.dimension == 384
    assert manifest.vector_backend == "qdrant-edge"
    actions = _db_run(migrated, select(AuditEvent.action), fetch=True)
    assert "platform.backup" in actions


def test_tenant_export_and_its_errors(
    api: Api, indexed: str, acme: TenantFixture, migrated: Settings, tmp_path: Path
) -> None:
    archive = _download(api, "/api/v1/admin/tenants/acme/export", tmp_path / "acme.tar")
    manifest = read_archive(archive).manifest
    assert manifest.kind == "tenant" and manifest.tenant is not None
    assert manifest.tenant.id == acme.id
    missing = api.client.get("/api/v1/admin/tenants/nobody/export", headers=ADMIN)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    assert missing.json()["code"] == "tenant_not_found"
    _db_run(migrated, update(Tenant).where(Tenant.slug == "acme").values(status="deleting"))
    deleting = api.client.get("/api/v1/admin/tenants/acme/export", headers=ADMIN)
    assert deleting.status_code == 409 and deleting.json()["code"] == "tenant_deleting"


def test_import_refuses_what_is_not_a_tenant_archive(
    api: Api, indexed: str, tmp_path: Path
) -> None:
    post = api.client.post
    empty = post("/api/v1/admin/tenants/import", content=b"", headers=ADMIN)
    assert empty.status_code == 422 and empty.json()["code"] == "invalid_archive"
    assert "no archive" in empty.json()["detail"]
    junk = post("/api/v1/admin/tenants/import", content=b"not a tar" * 100, headers=ADMIN)
    assert junk.status_code == 422 and junk.headers["content-type"] == PROBLEM
    assert "not a tar file" in junk.json()["detail"]
    backup = _download(api, "/api/v1/admin/backup", tmp_path / "all.tar")
    whole = post("/api/v1/admin/tenants/import", content=backup.read_bytes(), headers=ADMIN)
    assert whole.status_code == 422
    assert "this is a backup archive" in whole.json()["detail"]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("notes.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    foreign = post("/api/v1/admin/tenants/import", content=buffer.getvalue(), headers=ADMIN)
    assert foreign.status_code == 422 and "unexpected entry" in foreign.json()["detail"]


def test_tenant_credentials_cannot_back_up_or_import(api: Api, acme: TenantFixture) -> None:
    owner = bearer(acme.owner_key)
    for method, path in (
        ("GET", "/api/v1/admin/backup"),
        ("GET", "/api/v1/admin/tenants/acme/export"),
        ("POST", "/api/v1/admin/tenants/import"),
    ):
        response = api.client.request(method, path, headers=owner)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["code"] == "permission_denied"
        assert api.client.request(method, path).status_code == 401
