from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from ragplatform.api.middleware import accept_request_id, route_template
from ragplatform.main import create_app
from tests.support import make_settings, migrate_to_head


def test_request_id_is_generated_and_echoed(client: TestClient) -> None:
    first = client.get("/healthz").headers["x-request-id"]
    second = client.get("/healthz").headers["x-request-id"]
    assert len(first) == 32 and first != second


def test_well_formed_request_id_is_accepted(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123.def:9"})
    assert response.headers["x-request-id"] == "abc-123.def:9"


@pytest.mark.parametrize("bad", ["", "x" * 129, "has space", "new\tline", "<script>"])
def test_malformed_request_id_is_replaced(bad: str) -> None:
    assert accept_request_id(bad) != bad
    assert accept_request_id(None)


def test_security_headers(client: TestClient) -> None:
    headers = client.get("/healthz").headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in headers


def test_docs_keep_a_loadable_csp_and_hsts_on_https(client: TestClient) -> None:
    headers = client.get("/docs").headers
    assert "content-security-policy" not in headers
    secure = TestClient(client.app, base_url="https://testserver")
    assert "strict-transport-security" in secure.get("/healthz").headers


@pytest.fixture
def small_limit_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path / "d", limits={"max_request_bytes": 1024})
    migrate_to_head(settings)
    app: FastAPI = create_app(settings)

    @app.post("/probe/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_body_within_limit_passes(small_limit_client: TestClient) -> None:
    assert small_limit_client.post("/probe/echo", content=b"x" * 1024).json() == {"size": 1024}


def test_declared_oversize_body_is_413(small_limit_client: TestClient) -> None:
    response = small_limit_client.post("/probe/echo", content=b"x" * 2048)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "payload_too_large"
    assert body["request_id"] == response.headers["x-request-id"]


def test_streamed_oversize_body_is_413(small_limit_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(8):
            yield b"y" * 512

    response = small_limit_client.post("/probe/echo", content=chunks())
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_cors_only_for_configured_origins(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "d", cors={"allow_origins": ["https://ui.example.com"]})
    migrate_to_head(settings)
    with TestClient(create_app(settings)) as client:
        allowed = client.options(
            "/healthz",
            headers={"Origin": "https://ui.example.com", "Access-Control-Request-Method": "GET"},
        )
        assert allowed.headers["access-control-allow-origin"] == "https://ui.example.com"
        denied = client.get("/healthz", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in denied.headers


def test_route_template_fallbacks() -> None:
    assert route_template({"path": "/x"}) == "<unmatched>"
    assert route_template({"path": "/docs", "endpoint": object()}) == "/docs"
