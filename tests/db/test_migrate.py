from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import inspect

from ragplatform.db import migrate
from ragplatform.db.engine import Database
from ragplatform.settings import Settings
from tests.support import make_settings


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        names = await conn.run_sync(lambda c: inspect(c).get_table_names())
    return set(names) - {"alembic_version"}


async def _round_trip(db: Database) -> list[tuple[str | None, set[str]]]:
    seen = []
    await migrate.upgrade(db)
    seen.append((await migrate.current_revision(db), await _tables(db)))
    await migrate.downgrade(db, "base")
    seen.append((await migrate.current_revision(db), await _tables(db)))
    await migrate.upgrade(db)
    seen.append((await migrate.current_revision(db), await _tables(db)))
    return seen


def _check_round_trip(settings: Settings) -> None:
    async def run() -> list[tuple[str | None, set[str]]]:
        db = Database(settings.database_url, settings.database)
        try:
            return await _round_trip(db)
        finally:
            await db.dispose()

    (rev1, tables1), (rev2, tables2), (rev3, tables3) = asyncio.run(run())
    head = migrate.head_revision()
    assert rev1 == head and rev3 == head
    assert rev2 is None and tables2 == set()
    assert {"tenants", "api_keys", "users", "audit_events", "jobs"} <= tables1
    assert tables1 == tables3


def test_round_trip_on_sqlite(settings: Settings) -> None:
    _check_round_trip(settings)


@pytest.mark.postgres
def test_round_trip_on_postgres(tmp_path, pg_url: str) -> None:  # type: ignore[no-untyped-def]
    _check_round_trip(make_settings(tmp_path, database={"url": pg_url}))


def test_models_match_migrations(settings: Settings) -> None:
    """The ORM metadata and the migrated schema agree (no forgotten migration)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ragplatform.db.models import metadata

    async def run() -> list[object]:
        db = Database(settings.database_url, settings.database)
        try:
            await migrate.upgrade(db)
            async with db.engine.connect() as conn:
                return await conn.run_sync(
                    lambda c: compare_metadata(MigrationContext.configure(c), metadata)
                )
        finally:
            await db.dispose()

    assert asyncio.run(run()) == []
