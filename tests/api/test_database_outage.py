"""The database going away mid-run: 503 problems with Retry-After, then recovery by itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from ragplatform.api.deps import SessionDep
from ragplatform.main import create_app
from tests.support import PG_HOST, PG_PORT, TcpProxy, make_settings, migrate_to_head

pytestmark = pytest.mark.postgres


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    p = TcpProxy(PG_HOST, PG_PORT)
    yield p
    p.close()


def test_outage_turns_into_503_and_recovers(tmp_path: Path, pg_url: str, proxy: TcpProxy) -> None:
    via_proxy = pg_url.replace(f":{PG_PORT}/", f":{proxy.port}/")
    settings = make_settings(
        tmp_path, database={"url": via_proxy, "connect_timeout_s": 1.0, "pool_size": 2}
    )
    migrate_to_head(settings)
    app: FastAPI = create_app(settings)

    @app.get("/probe/count")
    async def count(session: SessionDep) -> dict[str, int]:
        value = (await session.execute(text("SELECT count(*) FROM tenants"))).scalar_one()
        return {"tenants": int(value)}

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/probe/count").json() == {"tenants": 0}
        assert client.get("/readyz").status_code == 200

        proxy.cut()
        down = client.get("/probe/count")
        assert down.status_code == 503, down.text
        assert down.headers["retry-after"] == "5"
        assert down.headers["content-type"] == "application/problem+json"
        assert down.json()["code"] == "database_unavailable"
        assert "127.0.0.1" not in down.text  # no connection details leak
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"]["status"] == "failed"
        assert client.get("/healthz").status_code == 200  # liveness is unaffected

        proxy.restore()
        assert client.get("/probe/count").json() == {"tenants": 0}
        assert client.get("/readyz").status_code == 200
