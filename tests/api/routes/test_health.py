from __future__ import annotations

import asyncio
import re

from fastapi.testclient import TestClient
from sqlalchemy import text

from ragplatform.db.migrate import head_revision
from ragplatform.settings import Settings


def test_healthz_touches_nothing(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_lists_the_database_check(backend_settings: Settings) -> None:
    from ragplatform.main import create_app

    with TestClient(create_app(backend_settings)) as client:
        response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    check = body["checks"]["database"]
    assert check["status"] == "ok"
    assert check["backend"] in {"sqlite", "postgresql"}
    assert check["revision"]


def test_readyz_503_names_a_stale_schema(client: TestClient) -> None:
    async def stamp_old() -> None:
        from ragplatform.db.engine import Database

        settings: Settings = client.app_state["settings"]
        database = Database(settings.database_url, settings.database)
        async with database.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = 'old'"))
        await database.dispose()

    asyncio.run(stamp_old())
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    body = response.json()
    assert body["code"] == "not_ready"
    assert body["detail"] == "not ready: database failed"
    assert body["checks"]["database"]["error"] == f"schema at old, expected {head_revision()}"


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    client.get("/healthz")
    client.get("/healthz")
    client.get("/missing/123")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text_body = response.text
    assert re.search(
        r'ragplatform_http_requests_total\{method="GET",route="/healthz",status="200"\} 2\.0',
        text_body,
    )
    assert 'route="<unmatched>",status="404"' in text_body
    assert "/missing/123" not in text_body
    assert "ragplatform_http_request_duration_seconds_bucket" in text_body
    assert "process_cpu_seconds_total" in text_body
