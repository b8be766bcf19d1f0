"""One snapshot: reads inside it do not see what commits meanwhile (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from ragplatform.backup.snapshot import snapshot_connection, take_snapshot
from ragplatform.db import migrate
from ragplatform.db.engine import Database
from ragplatform.errors import Conflict, NotFound
from ragplatform.settings import Settings
from ragplatform.tenancy.models import Tenant


async def _add_tenant(db: Database, slug: str, status: str = "active") -> None:
    async with db.session() as session:
        session.add(Tenant(id=uuid.uuid4(), slug=slug, name=slug, status=status))
        await session.commit()


def test_reads_in_a_snapshot_ignore_later_commits(backend_settings: Settings) -> None:
    async def run() -> tuple[int, int, int]:
        db = Database(backend_settings.database_url, backend_settings.database)
        try:
            await _add_tenant(db, "first")
            count = select(func.count()).select_from(Tenant)
            async with snapshot_connection(db) as conn:
                before = await conn.scalar(count)
                await _add_tenant(db, "second")  # commits while the snapshot is open
                during = await conn.scalar(count)
            async with db.session() as session:
                after = await session.scalar(count)
            return int(before or 0), int(during or 0), int(after or 0)
        finally:
            await db.dispose()

    assert asyncio.run(run()) == (1, 1, 2)


def test_a_snapshot_names_missing_deleting_and_stale_states(
    migrated: Settings, tmp_path: Path
) -> None:
    async def run() -> None:
        db = Database(migrated.database_url, migrated.database)
        try:
            with pytest.raises(NotFound, match="no tenant with slug 'ghost'"):
                await take_snapshot(db, staging=tmp_path, tenant_slug="ghost")
            await _add_tenant(db, "leaving", status="deleting")
            with pytest.raises(Conflict, match="being deleted"):
                await take_snapshot(db, staging=tmp_path, tenant_slug="leaving")
            await migrate.downgrade(db, "-1")
            with pytest.raises(Conflict, match="run `ragplatform migrate`") as caught:
                await take_snapshot(db, staging=tmp_path, tenant_slug=None)
            assert caught.value.code == "schema_not_current"
            async with db.engine.connect() as conn:
                assert await conn.scalar(text("SELECT count(*) FROM tenants")) == 1
        finally:
            await db.dispose()

    asyncio.run(run())
