"""Readiness checks: each dependency reports ok or what failed, within a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ragplatform.db.engine import Database
from ragplatform.db.migrate import current_revision, head_revision


@dataclass
class CheckResult:
    """The outcome of one readiness check."""

    ok: bool
    latency_ms: float
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {"status": "ok" if self.ok else "failed"}
        out["latency_ms"] = round(self.latency_ms, 2)
        out.update(self.detail)
        if self.error:
            out["error"] = self.error
        return out


class ReadinessCheck(Protocol):
    """A dependency the app needs to serve requests."""

    name: str

    async def check(self) -> dict[str, Any]:
        """Return details when healthy; raise when not."""
        ...


class DatabaseCheck:
    """The metadata database answers and its schema is at this code's head revision."""

    name = "database"

    def __init__(self, db: Database) -> None:
        self.db = db

    async def check(self) -> dict[str, Any]:
        """Ping and compare the schema revision."""
        await self.db.ping()
        revision = await current_revision(self.db)
        head = head_revision()
        if revision != head:
            raise RuntimeError(f"schema at {revision or 'none'}, expected {head}")
        return {"backend": self.db.backend, "revision": revision}


class PingCheck:
    """A component that answers ``ping()`` (Redis, vector store, embedder)."""

    def __init__(self, name: str, ping: Callable[[], Awaitable[None]], **detail: Any) -> None:
        self.name = name
        self._ping = ping
        self._detail = detail

    async def check(self) -> dict[str, Any]:
        """Ping the component."""
        await self._ping()
        return dict(self._detail)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, RuntimeError):
        return str(exc)
    return f"unreachable ({type(exc).__name__})"


async def _run_one(check: ReadinessCheck, timeout_s: float) -> CheckResult:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            detail = await check.check()
    except Exception as exc:
        return CheckResult(False, (time.perf_counter() - started) * 1000, error=_describe(exc))
    return CheckResult(True, (time.perf_counter() - started) * 1000, detail=detail)


async def run_checks(checks: list[ReadinessCheck], timeout_s: float) -> dict[str, CheckResult]:
    """Run every check concurrently, each bounded by ``timeout_s``."""
    results = await asyncio.gather(*(_run_one(c, timeout_s) for c in checks))
    return {c.name: r for c, r in zip(checks, results, strict=True)}
