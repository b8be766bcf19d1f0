from __future__ import annotations

import asyncio

from sqlalchemy import select

from ragplatform.db.engine import Database
from ragplatform.settings import Settings
from ragplatform.tenancy.bootstrap import admin_key_banner, ensure_platform_admin_key
from ragplatform.tenancy.keys import hash_key
from ragplatform.tenancy.models import ApiKey

ENV_KEY_1 = "rag_env_key_one_0123456789abcdefghij"
ENV_KEY_2 = "rag_env_key_two_0123456789abcdefghij"


def _run(settings: Settings, *env_keys: str | None) -> tuple[list[str | None], list[ApiKey]]:
    async def run() -> tuple[list[str | None], list[ApiKey]]:
        db = Database(settings.database_url, settings.database)
        try:
            created = []
            for env_key in env_keys:
                async with db.session() as session:
                    created.append(await ensure_platform_admin_key(session, env_key=env_key))
            async with db.session() as session:
                rows = list((await session.scalars(select(ApiKey))).all())
            return created, rows
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_first_start_creates_one_key_and_later_starts_none(migrated: Settings) -> None:
    created, rows = _run(migrated, None, None)
    assert created[0] is not None and created[0].startswith("rag_")
    assert created[1] is None
    assert len(rows) == 1
    assert rows[0].role == "platform_admin" and rows[0].tenant_id is None
    assert rows[0].key_hash == hash_key(created[0])


def test_env_key_is_registered_once_and_rotation_revokes_the_old(
    migrated: Settings, backend_settings: Settings
) -> None:
    created, rows = _run(backend_settings, ENV_KEY_1, ENV_KEY_1, ENV_KEY_2)
    assert created == [None, None, None]
    by_hash = {r.key_hash: r for r in rows}
    assert len(rows) == 2
    assert by_hash[hash_key(ENV_KEY_1)].revoked_at is not None
    assert by_hash[hash_key(ENV_KEY_2)].revoked_at is None


def test_banner_shows_the_key_once() -> None:
    banner = admin_key_banner("rag_xyz")
    assert banner.count("rag_xyz") == 1 and "RAG_ADMIN_API_KEY" in banner
