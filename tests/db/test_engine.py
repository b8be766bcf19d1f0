from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from ragplatform.db.engine import Database, redact_url
from ragplatform.settings import Settings


def test_sqlite_is_configured_for_concurrent_use(settings: Settings) -> None:
    async def run() -> tuple[str, int, int]:
        db = Database(settings.database_url, settings.database)
        try:
            async with db.engine.connect() as conn:
                mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
                busy = (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one()
                fks = (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
            return mode, busy, fks
        finally:
            await db.dispose()

    assert asyncio.run(run()) == ("wal", settings.database.busy_timeout_ms, 1)
    assert (settings.data_dir / "ragplatform.db").exists()


def test_session_rolls_back_on_error(settings: Settings) -> None:
    async def run() -> int:
        db = Database(settings.database_url, settings.database)
        try:
            async with db.engine.begin() as conn:
                await conn.execute(text("CREATE TABLE t (x INTEGER)"))

            async def failing_write() -> None:
                async with db.session() as session:
                    await session.execute(text("INSERT INTO t VALUES (1)"))
                    raise RuntimeError("boom")

            with pytest.raises(RuntimeError):
                await failing_write()
            async with db.session() as session:
                return int((await session.execute(text("SELECT count(*) FROM t"))).scalar_one())
        finally:
            await db.dispose()

    assert asyncio.run(run()) == 0


def test_concurrent_writers_do_not_fail_with_locked(settings: Settings) -> None:
    async def run() -> int:
        db = Database(settings.database_url, settings.database)
        try:
            async with db.engine.begin() as conn:
                await conn.execute(text("CREATE TABLE t (x INTEGER)"))

            async def writer(i: int) -> None:
                async with db.session() as session:
                    await session.execute(text("INSERT INTO t VALUES (:x)"), {"x": i})
                    await session.commit()

            await asyncio.gather(*(writer(i) for i in range(20)))
            async with db.session() as session:
                return int((await session.execute(text("SELECT count(*) FROM t"))).scalar_one())
        finally:
            await db.dispose()

    assert asyncio.run(run()) == 20


@pytest.mark.postgres
def test_postgres_backend_and_ping(settings: Settings, pg_url: str) -> None:
    async def run() -> str:
        db = Database(pg_url, settings.database)
        try:
            await db.ping()
            return db.backend
        finally:
            await db.dispose()

    assert asyncio.run(run()) == "postgresql"


def test_redact_url_hides_password() -> None:
    assert redact_url("postgresql+asyncpg://u:s3cret@h/db") == "postgresql+asyncpg://u:***@h/db"
