from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from ragplatform.db.engine import Database
from ragplatform.db.migrate import head_revision
from ragplatform.db.preflight import check_database
from ragplatform.errors import StartupError
from ragplatform.settings import Settings

HEAD = head_revision()


def _check(settings: Settings, sql: str | None = None) -> str:
    async def run() -> str:
        db = Database(settings.database_url, settings.database)
        try:
            if sql:
                async with db.engine.begin() as conn:
                    await conn.execute(text(sql))
            return await check_database(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_at_head_passes(migrated: Settings) -> None:
    assert _check(migrated) == head_revision()


def test_newer_schema_asks_for_an_upgrade_of_the_code(migrated: Settings) -> None:
    with pytest.raises(StartupError, match="newer than this version of ragplatform knows"):
        _check(migrated, "UPDATE alembic_version SET version_num = '9999'")


def test_older_schema_asks_for_migrate(migrated: Settings) -> None:
    with pytest.raises(StartupError, match=rf"at revision 0001 but this version needs {HEAD}"):
        _check(migrated, "UPDATE alembic_version SET version_num = '0001'")


def test_timeout_is_reported(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    async def slow_ping(self: Database, timeout_s: float | None = None) -> None:
        raise TimeoutError

    monkeypatch.setattr(Database, "ping", slow_ping)
    with pytest.raises(StartupError, match="timed out"):
        _check(settings)
