from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from ragplatform import errors
from ragplatform.api.deps import SessionDep
from ragplatform.api.problems import PROBLEM_MEDIA_TYPE, status_for
from ragplatform.main import create_app
from ragplatform.settings import Settings


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=10)
    count: int = 1


@pytest.fixture
def probe_client(migrated: Settings) -> Iterator[TestClient]:
    """The real app plus probe routes that raise each kind of error."""
    app: FastAPI = create_app(migrated)

    @app.post("/probe/items")
    async def create_item(item: Item) -> Item:
        return item

    @app.get("/probe/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    @app.get("/probe/domain/{kind}")
    async def domain(kind: str) -> None:
        raise {
            "conflict": errors.Conflict("name taken"),
            "rate": errors.RateLimited("slow down", retry_after=7),
            "unauth": errors.Unauthenticated("missing credential"),
            "unavailable": errors.Unavailable("vector store down", retry_after=3),
            "quota": errors.QuotaExceeded("document quota reached", retry_after=60),
        }[kind]

    @app.get("/probe/db")
    async def db(session: SessionDep) -> dict[str, int]:
        from sqlalchemy import text

        await session.execute(text("SELECT * FROM no_such_table"))
        return {"ok": 1}

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def assert_problem(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:ragplatform:problem:{code}"
    assert body["title"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def test_unknown_route_is_404_problem(client: TestClient) -> None:
    body = assert_problem(client.get("/nope"), 404, "not_found")
    assert body["detail"] == "no route matches GET /nope"


def test_wrong_method_is_405_problem_with_allow(client: TestClient) -> None:
    response = client.delete("/healthz")
    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"


def test_malformed_json_is_422_problem(probe_client: TestClient) -> None:
    response = probe_client.post(
        "/probe/items", content=b'{"name": "x",', headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 422, "malformed_json")
    assert body["errors"][0]["type"] == "json_invalid"


def test_validation_errors_are_listed(probe_client: TestClient) -> None:
    response = probe_client.post("/probe/items", json={"name": "", "count": "many"})
    body = assert_problem(response, 422, "validation_error")
    locs = sorted(tuple(e["loc"]) for e in body["errors"])
    assert locs == [("body", "count"), ("body", "name")]
    assert body["detail"] == "2 invalid fields in the request"


def test_unexpected_exception_is_generic_500(
    probe_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    response = probe_client.get("/probe/boom", headers={"X-Request-ID": "req-500-check"})
    body = assert_problem(response, 500, "internal_error")
    assert body["request_id"] == "req-500-check"
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    logged = [r for r in caplog.records if r.name == "ragplatform.error"]
    assert logged and logged[0].exc_info is not None
    assert "req-500-check" in json.dumps(logged[0].msg, default=str)


@pytest.mark.parametrize(
    ("kind", "status", "code", "header", "value"),
    [
        ("conflict", 409, "conflict", None, None),
        ("rate", 429, "rate_limited", "retry-after", "7"),
        ("quota", 429, "quota_exceeded", "retry-after", "60"),
        ("unauth", 401, "unauthenticated", "www-authenticate", "Bearer"),
        ("unavailable", 503, "unavailable", "retry-after", "3"),
    ],
)
def test_domain_errors_map_to_problems(
    probe_client: TestClient, kind: str, status: int, code: str, header: str | None, value: str
) -> None:
    response = probe_client.get(f"/probe/domain/{kind}")
    assert_problem(response, status, code)
    if header:
        assert response.headers[header] == value


def test_database_programming_error_is_500_not_503(probe_client: TestClient) -> None:
    response = probe_client.get("/probe/db")
    assert_problem(response, 500, "internal_error")
    assert "no_such_table" not in response.text


def test_status_for_falls_back_to_400_for_unknown_subclass() -> None:
    class Odd(errors.RagPlatformError):
        code = "odd"

    assert status_for(Odd("x")) == 400
    assert status_for(errors.QuotaExceeded("q", retry_after=1)) == 429


def test_openapi_declares_problem_responses(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "Problem" in schema["components"]["schemas"]
    responses = schema["paths"]["/readyz"]["get"]["responses"]
    for status in ("500", "503"):
        assert PROBLEM_MEDIA_TYPE in responses[status]["content"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
