"""The metadata dump is backend-neutral: SQLite -> PostgreSQL -> SQLite answers the same."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ragplatform.backup.restore import restore_backup
from tests.backup.support import backup_offline, observe, originals, populate, serving
from tests.support import make_settings, migrate_to_head, throwaway_postgres


def test_sqlite_backup_restores_into_postgresql_and_back(tmp_path: Path) -> None:
    sqlite = make_settings(tmp_path / "sqlite")
    migrate_to_head(sqlite)
    with serving(sqlite) as api:
        corpus = populate(api)
        before = observe(api, corpus)
    first = backup_offline(sqlite, tmp_path / "from-sqlite.tar.gz")
    assert first.database_backend == "sqlite"

    with throwaway_postgres() as url:
        postgres = make_settings(tmp_path / "pg-data", database={"url": url})
        asyncio.run(restore_backup(postgres, tmp_path / "from-sqlite.tar.gz"))
        with serving(postgres) as api:
            assert observe(api, corpus) == before
        second = backup_offline(postgres, tmp_path / "from-pg.tar")
        assert second.database_backend == "postgresql"
        assert second.tables == first.tables

    back = make_settings(tmp_path / "sqlite-again")
    asyncio.run(restore_backup(back, tmp_path / "from-pg.tar"))
    assert originals(back.data_dir) == originals(sqlite.data_dir)
    with serving(back) as api:
        assert observe(api, corpus) == before
