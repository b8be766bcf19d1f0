"""The platform as the evaluation drives it: in process on a data dir, or a running server.

Both go through the HTTP API (ASGI in process), so ingestion and search take the real paths:
parsing, chunking, embedding, the vector store, version checks, scopes.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from ragplatform.settings import Settings

EVAL_TENANT = "eval"
UNAVAILABLE_RETRIES = 10


class PlatformError(Exception):
    """The platform refused a call (one readable line)."""


def _check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            body = response.json()
            detail = body.get("detail") or body.get("error", {}).get("message") or response.text
        except ValueError:
            detail = response.text[:200]
        raise PlatformError(f"{response.request.method} {response.request.url.path}: {detail}")
    return response.json() if response.content else None


class _WithState:
    """Hands the lifespan's state to every request, as an ASGI server would."""

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"] = dict(self.state)
        await self.app(scope, receive, send)


@asynccontextmanager
async def local_platform(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """The app on ``settings`` (migrated first) and a fresh tenant's owner key."""
    from ragplatform.db.engine import Database
    from ragplatform.db.migrate import upgrade
    from ragplatform.main import create_app

    admin = "rag_" + secrets.token_urlsafe(32)
    # The evaluation is the only caller: no request rate limits on its own platform.
    limits = settings.rate_limits.model_copy(update={"enabled": False})
    update: dict[str, Any] = {"admin_api_key": _secret(admin), "rate_limits": limits}
    if "level" not in settings.log.model_fields_set:
        # A command-line run: an access line per request would bury the progress bars, so
        # the in-process platform logs warnings and errors unless RAG_LOG__LEVEL says otherwise.
        update["log"] = settings.log.model_copy(update={"level": "WARNING"})
    settings = settings.model_copy(update=update)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url, settings.database)
    try:
        await upgrade(db)
    finally:
        await db.dispose()
    app = create_app(settings)
    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(app=_WithState(app, dict(state or {})))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://ragplatform", timeout=600
        ) as http:
            headers = {"Authorization": f"Bearer {admin}"}
            tenant = await _eval_tenant(http, headers)
            key = _check(
                await http.post(
                    "/api/v1/api-keys",
                    json={"name": "eval", "role": "owner", "tenant_id": tenant["id"]},
                    headers=headers,
                )
            )["key"]
            yield http, key


async def _eval_tenant(http: httpx.AsyncClient, headers: dict[str, str]) -> Any:
    """The ``eval`` tenant of this data dir (created on first use)."""
    cursor = None
    while True:
        params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
        page = _check(await http.get("/api/v1/tenants", params=params, headers=headers))
        for tenant in page["items"]:
            if tenant["slug"] == EVAL_TENANT:
                return tenant
        cursor = page.get("next_cursor")
        if not cursor:
            break
    body = {"slug": EVAL_TENANT, "name": "retrieval evaluation"}
    return _check(await http.post("/api/v1/tenants", json=body, headers=headers))


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


@asynccontextmanager
async def remote_platform(url: str, api_key: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A running server and the caller's key."""
    async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=600) as http:
        yield http, api_key


async def call(http: httpx.AsyncClient, key: str, method: str, path: str, **kwargs: Any) -> Any:
    """One authenticated API call (429/503 retried after their Retry-After); problems raise."""
    headers = {"Authorization": f"Bearer {key}"}
    for _ in range(UNAVAILABLE_RETRIES):
        response = await http.request(method, path, headers=headers, **kwargs)
        if response.status_code not in (429, 503):
            break
        await asyncio.sleep(min(float(response.headers.get("retry-after", "1")), 5.0))
    return _check(response)


def data_dir_settings(base: Settings, data_dir: Path) -> Settings:
    """``base`` on its own data dir (SQLite there unless a database URL is configured)."""
    return base.model_copy(update={"data_dir": data_dir})
