"""RFC 9457 problem details: every error response the API sends is built here.

The OpenAI-compatible routes (``/v1``) get the same errors in OpenAI's error shape instead.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from ragplatform import errors
from ragplatform.db.engine import UNAVAILABLE_DETAIL
from ragplatform.db.errors import is_unavailable
from ragplatform.documents.parsed import UnreadableDocument
from ragplatform.observability.logging import get_logger
from ragplatform.openai_compat.errors import (
    OpenAIErrorResponse,
    is_openai_path,
    openai_error,
    validation_error,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:ragplatform:problem:"

_log = get_logger("ragplatform.api")

STATUS_FOR: dict[type[errors.RagPlatformError], int] = {
    errors.InvalidInput: 422,
    errors.Unauthenticated: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.RateLimited: 429,
    errors.Unavailable: 503,
    UnreadableDocument: 422,
}

_CODE_FOR_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class FieldError(BaseModel):
    """One validation failure."""

    loc: list[str | int] = Field(description="Where: body/query/path/header, then the field path")
    msg: str
    type: str


class Problem(BaseModel):
    """An error response (RFC 9457) with a stable machine-readable ``code``."""

    type: str = Field(examples=[f"{TYPE_PREFIX}not_found"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str | None = Field(default=None, examples=["collection not found"])
    code: str = Field(examples=["not_found"])
    request_id: str | None = Field(default=None, examples=["3f2a9c0e5b7d4c1e9a8b7c6d5e4f3a2b"])
    errors: list[FieldError] | None = None


def request_id_from_scope(scope: dict[str, Any] | Any) -> str | None:
    """The request id set by the request-context middleware."""
    state = scope.get("state") or {}
    rid = state.get("request_id") if isinstance(state, dict) else None
    return rid if isinstance(rid, str) else None


def problem_body(
    status: int,
    code: str,
    detail: str | None,
    request_id: str | None,
    *,
    field_errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON document of a problem."""
    body: dict[str, Any] = {
        "type": f"{TYPE_PREFIX}{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id,
    }
    if field_errors is not None:
        body["errors"] = field_errors
    if extra:
        body.update(extra)
    return body


def problem_response(
    status: int,
    code: str,
    detail: str | None,
    request_id: str | None,
    *,
    field_errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """A problem+json response."""
    return JSONResponse(
        problem_body(status, code, detail, request_id, field_errors=field_errors, extra=extra),
        status_code=status,
        headers=headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def error_response(
    request: Request,
    status: int,
    code: str,
    detail: str | None,
    *,
    field_errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    param: str | None = None,
) -> JSONResponse:
    """A problem+json response, or OpenAI's error object on the OpenAI-compatible routes."""
    if not is_openai_path(str(request.scope.get("path", ""))):
        rid = request_id_from_scope(request.scope)
        return problem_response(
            status, code, detail, rid, field_errors=field_errors, headers=headers
        )
    if field_errors is not None and code == "validation_error":
        detail, param = validation_error(field_errors)
    status, body = openai_error(status, code, detail, param=param)
    return JSONResponse(body, status_code=status, headers=headers)


def problem_bytes(status: int, code: str, detail: str, request_id: str | None) -> bytes:
    """The encoded body, for pure ASGI middleware that answers by itself."""
    return json.dumps(problem_body(status, code, detail, request_id)).encode()


def status_for(exc: errors.RagPlatformError) -> int:
    """The HTTP status of a domain error (most specific class wins)."""
    for cls in type(exc).__mro__:
        if cls in STATUS_FOR:
            return STATUS_FOR[cls]
    return 400


def _domain_headers(exc: errors.RagPlatformError) -> dict[str, str]:
    headers: dict[str, str] = {}
    if isinstance(exc, errors.RateLimited | errors.Unavailable):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, errors.Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    return headers


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.RagPlatformError)
    status = status_for(exc)
    if status >= 500:
        _log.warning("dependency_unavailable", code=exc.code, detail=exc.detail)
    return error_response(
        request,
        status,
        exc.code,
        exc.detail,
        headers=_domain_headers(exc),
        param=getattr(exc, "param", None),
    )


def _clean_field_error(err: dict[str, Any]) -> dict[str, Any]:
    return {
        "loc": [p if isinstance(p, int) else str(p) for p in err.get("loc", ())],
        "msg": str(err.get("msg", "invalid value")),
        "type": str(err.get("type", "value_error")),
    }


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    field_errors = [_clean_field_error(e) for e in raw]
    if any(e.get("type") == "json_invalid" for e in raw):
        code, detail = "malformed_json", "the request body is not valid JSON"
    else:
        count = len(field_errors)
        code = "validation_error"
        detail = f"{count} invalid field{'s' if count != 1 else ''} in the request"
    return error_response(request, 422, code, detail, field_errors=field_errors)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _CODE_FOR_STATUS.get(status, "http_error")
    if status == 404 and exc.detail == HTTPStatus.NOT_FOUND.phrase:
        detail = f"no route matches {request.method} {request.url.path}"
    elif status == 405:
        detail = f"method {request.method} is not allowed on {request.url.path}"
    else:
        detail = str(exc.detail)
    return error_response(
        request, status, code, detail, headers=dict(exc.headers) if exc.headers else None
    )


async def _database_error(request: Request, exc: Exception) -> Response:
    if not is_unavailable(exc):
        raise exc
    _log.warning("database_unavailable", error_type=type(exc).__name__)
    return error_response(
        request, 503, "database_unavailable", UNAVAILABLE_DETAIL, headers={"Retry-After": "5"}
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Register every mapping from exceptions to problems (unexpected ones: middleware)."""
    app.add_exception_handler(errors.RagPlatformError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)


_GENERIC_RESPONSES = {
    "500": "Unexpected error; the body carries only the request id",
    "503": "A dependency is down; retry after the Retry-After header",
}


def _declare(components: dict[str, Any], model: type[BaseModel]) -> dict[str, str]:
    nested = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(nested.pop("$defs", {}))
    components[model.__name__] = nested
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def declare_problem_responses(schema: dict[str, Any]) -> dict[str, Any]:
    """Make every 4xx/5xx response in the OpenAPI document a problem+json ``Problem``.

    Under ``/v1`` they are OpenAI's ``OpenAIErrorResponse`` as JSON instead.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = _declare(components, Problem)
    openai = _declare(components, OpenAIErrorResponse)
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    problem_content = {PROBLEM_MEDIA_TYPE: {"schema": problem}}
    openai_content = {"application/json": {"schema": openai}}
    for path, operations in schema.get("paths", {}).items():
        openai_path = is_openai_path(path)
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if openai_path and "422" in responses:  # the OpenAI routes send 400 instead
                responses["400"] = responses.pop("422") | {"description": "Invalid request"}
            for status, description in _GENERIC_RESPONSES.items():
                responses.setdefault(status, {"description": description})
            if "requestBody" in operation:
                responses.setdefault("413", {"description": "Request body too large"})
            for status, response in responses.items():
                if status[0] in "45":
                    response["content"] = openai_content if openai_path else problem_content
    return schema
