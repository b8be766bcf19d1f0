"""Pure ASGI middleware: request context (id, logs, metrics, last-resort 500), security
headers and the request body size limit."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragplatform.api.problems import PROBLEM_MEDIA_TYPE, problem_bytes, request_id_from_scope
from ragplatform.observability.logging import get_logger
from ragplatform.observability.metrics import Metrics
from ragplatform.openai_compat.errors import is_openai_path, openai_error

REQUEST_ID_HEADER = b"x-request-id"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
_UNMATCHED = "<unmatched>"

_access_log = get_logger("ragplatform.access")
_error_log = get_logger("ragplatform.error")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            try:
                return str(value.decode("latin-1"))
            except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
                return None
    return None


def accept_request_id(value: str | None) -> str:
    """The caller's ``X-Request-ID`` when well-formed, else a new one."""
    if value and _REQUEST_ID_RE.match(value):
        return value
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The matched route's path template (bounded label cardinality)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if scope.get("endpoint") is not None:  # plain Starlette routes (docs, openapi): no params
        return str(scope.get("path", _UNMATCHED))
    return _UNMATCHED


async def send_problem(
    send: Send, status: int, code: str, detail: str, rid: str | None, *, path: str = ""
) -> None:
    """Answer with a problem+json response (OpenAI's error shape under /v1) from middleware."""
    media_type = PROBLEM_MEDIA_TYPE
    body = problem_bytes(status, code, detail, rid)
    if is_openai_path(path):
        status, error = openai_error(status, code, detail)
        body, media_type = json.dumps(error).encode(), "application/json"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media_type.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """Outermost layer: request id, structured access log, metrics and a last-resort 500."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = accept_request_id(_header(scope, REQUEST_ID_HEADER))
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                headers = [h for h in message.get("headers", []) if h[0] != REQUEST_ID_HEADER]
                headers.append((REQUEST_ID_HEADER, rid.encode()))
                message["headers"] = headers
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=rid):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                route = route_template(scope)
                _error_log.exception("unhandled_exception", route=route, path=scope.get("path"))
                self.metrics.http_unhandled.labels(route).inc()
                status = 500
                if not response_started:
                    await send_problem(
                        send_with_id,
                        500,
                        "internal_error",
                        "an unexpected error occurred; quote the request_id when reporting it",
                        rid,
                        path=str(scope.get("path", "")),
                    )
            finally:
                self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = route_template(scope)
        method = str(scope.get("method", ""))
        self.metrics.observe_request(method, route, status, seconds)
        state = scope.get("state") or {}
        fields: dict[str, Any] = {
            "method": method,
            "route": route,
            "path": scope.get("path"),
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
        }
        if state.get("tenant_id"):
            fields["tenant_id"] = state["tenant_id"]
        client = scope.get("client")
        if client:
            fields["client"] = client[0]
        if route in _QUIET_ROUTES and status < 500:
            _access_log.debug("request", **fields)
        elif status >= 500:
            _access_log.error("request", **fields)
        else:
            _access_log.info("request", **fields)


_DOC_PATHS = ("/docs", "/redoc", "/openapi.json")
_BASE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
_API_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cache-control", b"no-store"),
]


class SecurityHeadersMiddleware:
    """Adds defensive headers; the interactive docs keep a CSP that lets them load."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(_BASE_HEADERS)
        if not str(scope.get("path", "")).startswith(_DOC_PATHS):
            extra += _API_HEADERS
        if scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {h[0].lower() for h in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    h for h in extra if h[0] not in present
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeLimitMiddleware:
    """Refuses bodies over the limit with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[Scope], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        rid = request_id_from_scope(scope)
        path = str(scope.get("path", ""))
        detail = f"the request body exceeds the limit of {limit} bytes"
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await send_problem(send, 413, "payload_too_large", detail, rid, path=path)
            return
        received = 0
        rejected = False

        async def limited_receive() -> Message:
            nonlocal received, rejected
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not rejected:
                    rejected = True
                    await send_problem(send, 413, "payload_too_large", detail, rid, path=path)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not rejected:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)
