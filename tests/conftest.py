"""Fixtures: settings on a temp data dir, migrated SQLite/PostgreSQL databases, app clients."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ragplatform.main import create_app
from ragplatform.settings import Settings
from tests.platform import ADMIN_KEY, Api, TenantFixture, make_tenant
from tests.support import make_settings, migrate_to_head, shared_embedder, throwaway_postgres

pytest_plugins = ["tests.llm_fixtures", "tests.rerank_fixtures"]


@pytest.fixture(autouse=True)
def _shared_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps in this process share one loaded MiniLM instead of loading it per app."""
    monkeypatch.setattr("ragplatform.main.build_embedder", shared_embedder)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No RAG_* variable or .env file of the developer's leaks into a test."""
    for name in list(os.environ):
        if name.startswith("RAG_") and not name.startswith("RAG_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Test settings on SQLite in a temp data dir (not migrated)."""
    return make_settings(tmp_path / "data")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    with throwaway_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Migrated settings on each metadata backend."""
    if request.param == "sqlite":
        settings = make_settings(tmp_path / "data")
        migrate_to_head(settings)
        yield settings
        return
    with throwaway_postgres() as url:
        settings = make_settings(tmp_path / "data", database={"url": url})
        migrate_to_head(settings)
        yield settings


@pytest.fixture
def migrated(settings: Settings) -> Settings:
    """SQLite settings with the schema at head."""
    migrate_to_head(settings)
    return settings


@pytest.fixture
def app(migrated: Settings) -> FastAPI:
    """An app on a migrated SQLite database."""
    return create_app(migrated)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client that runs the app's lifespan; server errors become responses."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def platform_settings(base: Settings, **overrides: object) -> Settings:
    """``base`` with the test admin key and generous rate limits unless overridden."""
    values = base.model_dump()
    values["admin_api_key"] = ADMIN_KEY
    values["auth"]["secret_key"] = base.auth.secret_key.get_secret_value()
    values["rate_limits"] = {"per_key": "10000/minute", "per_tenant": "10000/minute"}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def api(migrated: Settings) -> Iterator[Api]:
    """The platform API on SQLite, with the known platform admin key."""
    with TestClient(create_app(platform_settings(migrated)), raise_server_exceptions=False) as c:
        yield Api(c)


@pytest.fixture
def any_api(backend_settings: Settings) -> Iterator[Api]:
    """The platform API on SQLite and on PostgreSQL."""
    app_ = create_app(platform_settings(backend_settings))
    with TestClient(app_, raise_server_exceptions=False) as c:
        yield Api(c)


@pytest.fixture
def acme(api: Api) -> TenantFixture:
    """Tenant 'acme' with an owner key."""
    return make_tenant(api, "acme")


@pytest.fixture
def globex(api: Api) -> TenantFixture:
    """Tenant 'globex' with an owner key."""
    return make_tenant(api, "globex")
