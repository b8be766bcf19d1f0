"""Errors on /v1 come in OpenAI's shape (same status, 422 → 400); /api keeps problem+json."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import exc as sa_exc

from ragplatform import errors
from ragplatform.api.problems import PROBLEM_MEDIA_TYPE
from ragplatform.main import create_app
from ragplatform.openai_compat.errors import is_openai_path, openai_error, validation_error
from ragplatform.settings import Settings
from tests.conftest import platform_settings
from tests.openai_compat.conftest import BASE_URL
from tests.platform import Api, TenantFixture, bearer, make_tenant


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "bad_request", (400, "invalid_request_error", "bad_request")),
        (422, "validation_error", (400, "invalid_request_error", "validation_error")),
        (401, "unauthenticated", (401, "authentication_error", "invalid_api_key")),
        (401, "invalid_token", (401, "authentication_error", "invalid_api_key")),
        (403, "permission_denied", (403, "permission_error", "permission_denied")),
        (404, "model_not_found", (404, "not_found_error", "model_not_found")),
        (405, "method_not_allowed", (405, "invalid_request_error", "method_not_allowed")),
        (409, "conflict", (409, "invalid_request_error", "conflict")),
        (429, "rate_limited", (429, "rate_limit_error", "rate_limit_exceeded")),
        (429, "quota_exceeded", (429, "rate_limit_error", "quota_exceeded")),
        (500, "internal_error", (500, "api_error", "internal_error")),
        (503, "database_unavailable", (503, "api_error", "service_unavailable")),
    ],
)
def test_status_and_code_mapping(status: int, code: str, expected: tuple[int, str, str]) -> None:
    sent, body = openai_error(status, code, "what happened", param="x")
    assert (sent, body["error"]["type"], body["error"]["code"]) == expected
    assert body == {
        "error": {
            "message": "what happened",
            "type": expected[1],
            "param": "x",
            "code": expected[2],
        }
    }


def test_validation_messages_name_the_parameter() -> None:
    message, param = validation_error(
        [
            {"loc": ["body", "messages", 0, "content"], "msg": "Field required"},
            {"loc": ["body", "n"], "msg": "Value error, only n=1 is supported"},
        ]
    )
    assert param == "messages[0].content"
    assert message == (
        "Invalid request: messages[0].content: Field required; n: only n=1 is supported"
    )
    many = validation_error([{"loc": ["body", f"f{i}"], "msg": "bad"} for i in range(7)])[0]
    assert many.endswith("f4: bad (and 2 more)")


def test_only_v1_paths_are_openai_paths() -> None:
    assert is_openai_path("/v1") and is_openai_path("/v1/models")
    assert not is_openai_path("/v10/models") and not is_openai_path("/api/v1/ask")


@pytest.fixture
def probe_api(migrated: Settings) -> Iterator[Api]:
    """The real app plus /v1 probe routes raising each kind of failure."""
    app: FastAPI = create_app(platform_settings(migrated))

    @app.get("/v1/probe/domain/{kind}")
    async def domain(kind: str) -> None:
        raise {
            "conflict": errors.Conflict("name taken"),
            "rate": errors.RateLimited("slow down", retry_after=7),
            "quota": errors.QuotaExceeded("document quota reached", retry_after=60),
            "unavailable": errors.Unavailable("vector store down", retry_after=3),
        }[kind]

    @app.get("/v1/probe/db")
    async def db() -> None:
        raise sa_exc.DisconnectionError("connection lost")

    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client)


def _sdk(api: Api, key: str = "rag_unused") -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=BASE_URL, http_client=api.client, max_retries=0)


@pytest.mark.parametrize(
    ("path", "error_class", "status", "type_", "code", "retry_after"),
    [
        (
            "/probe/domain/conflict",
            openai.ConflictError,
            409,
            "invalid_request_error",
            "conflict",
            None,
        ),
        (
            "/probe/domain/rate",
            openai.RateLimitError,
            429,
            "rate_limit_error",
            "rate_limit_exceeded",
            "7",
        ),
        (
            "/probe/domain/quota",
            openai.RateLimitError,
            429,
            "rate_limit_error",
            "quota_exceeded",
            "60",
        ),
        (
            "/probe/domain/unavailable",
            openai.InternalServerError,
            503,
            "api_error",
            "service_unavailable",
            "3",
        ),
        ("/probe/db", openai.InternalServerError, 503, "api_error", "service_unavailable", "5"),
    ],
)
def test_domain_errors_reach_the_sdk_as_its_exceptions(
    probe_api: Api,
    path: str,
    error_class: type[openai.APIStatusError],
    status: int,
    type_: str,
    code: str,
    retry_after: str | None,
) -> None:
    with pytest.raises(error_class) as caught:
        _sdk(probe_api).get(path, cast_to=object)
    error = caught.value
    assert (error.status_code, error.type, error.code) == (status, type_, code)
    assert error.response.headers["content-type"] == "application/json"
    assert error.response.headers.get("retry-after") == retry_after
    assert error.request_id == error.response.headers["x-request-id"]


def test_unknown_routes_and_methods_under_v1(probe_api: Api) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        _sdk(probe_api).get("/no-such-thing", cast_to=object)
    assert caught.value.body == {
        "message": "no route matches GET /v1/no-such-thing",
        "type": "not_found_error",
        "param": None,
        "code": "not_found",
    }
    response = probe_api.client.delete("/v1/models", headers={"X-Request-ID": "req-405"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.headers["x-request-id"] == "req-405"
    assert response.json()["error"]["type"] == "invalid_request_error"
    # The native API keeps its problem documents.
    native = probe_api.client.get("/api/v1/no-such-thing")
    assert native.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert native.json()["code"] == "not_found"


def test_rate_limits_answer_429_with_retry_after(migrated: Settings) -> None:
    settings = platform_settings(migrated)
    limited = platform_settings(
        migrated, rate_limits={"per_key": "2/minute", "per_tenant": "100/minute"}
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as setup:
        key = make_tenant(Api(setup), "acme").owner_key
    with TestClient(create_app(limited), raise_server_exceptions=False) as client:
        sdk = _sdk(Api(client), key)
        sdk.models.list()
        sdk.models.list()
        with pytest.raises(openai.RateLimitError) as caught:
            sdk.models.list()
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.type == "rate_limit_error"
    assert int(caught.value.response.headers["retry-after"]) >= 1


def test_openapi_declares_openai_errors_on_v1(api: Api) -> None:
    schema: dict[str, Any] = api.client.get("/openapi.json").json()
    assert "OpenAIErrorResponse" in schema["components"]["schemas"]
    responses = schema["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert "422" not in responses
    ref = {"$ref": "#/components/schemas/OpenAIErrorResponse"}
    for status in ("400", "503"):
        assert responses[status]["content"] == {"application/json": {"schema": ref}}
    assert responses["500"]["content"] == {"application/json": {"schema": ref}}
    native = schema["paths"]["/api/v1/search"]["post"]["responses"]["422"]["content"]
    assert PROBLEM_MEDIA_TYPE in native


def test_middleware_errors_are_openai_shaped_on_v1(api: Api, acme: TenantFixture) -> None:
    big = "x" * (2 << 20)
    response = api.client.post(
        "/v1/embeddings",
        content=big,
        headers={**bearer(acme.owner_key), "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "payload_too_large"
    native = api.client.post("/api/v1/search", content=big, headers=bearer(acme.owner_key))
    assert native.headers["content-type"] == PROBLEM_MEDIA_TYPE
