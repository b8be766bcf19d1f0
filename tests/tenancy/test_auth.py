"""Authentication details that need a real database: last_used_at is best effort."""

from __future__ import annotations

import sqlite3

from fastapi.testclient import TestClient
from sqlalchemy import make_url

from ragplatform.main import create_app
from ragplatform.settings import Settings
from tests.conftest import platform_settings
from tests.platform import Api, bearer, make_tenant


def test_a_locked_database_does_not_fail_an_authenticated_read(migrated: Settings) -> None:
    database = migrated.database.model_copy(update={"busy_timeout_ms": 50})
    settings = platform_settings(migrated, database=database.model_dump())
    path = make_url(settings.database_url).database
    assert path is not None
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        api = Api(client)
        acme = make_tenant(api, "acme")
        fresh = api.create_key(acme.owner_key, role="viewer")["key"]  # never used: needs a touch
        locker = sqlite3.connect(path, isolation_level=None)
        try:
            locker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
            response = client.get("/api/v1/collections", headers=bearer(fresh))
        finally:
            locker.rollback()
            locker.close()
        assert response.status_code == 200, response.text
        again = client.get("/api/v1/auth/me", headers=bearer(fresh))
        assert again.status_code == 200
