"""The async engine and session factory, configured per backend."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from ragplatform.db.errors import is_unavailable
from ragplatform.errors import Unavailable
from ragplatform.settings import DatabaseSettings

UNAVAILABLE_DETAIL = "the metadata database is unavailable; retry shortly"


def redact_url(url: str) -> str:
    """The URL with any password masked, for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def apply(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return apply


def build_engine(url: str, settings: DatabaseSettings) -> AsyncEngine:
    """Create the engine: WAL + busy timeout + foreign keys on SQLite, a pinged pool elsewhere."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            echo=settings.echo,
            connect_args={"timeout": settings.busy_timeout_ms / 1000},
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(settings.busy_timeout_ms))
        return engine
    return create_async_engine(
        url,
        echo=settings.echo,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_pre_ping=True,
        pool_timeout=settings.connect_timeout_s,
        connect_args={"timeout": settings.connect_timeout_s},
    )


class Database:
    """Owns the engine and hands out sessions; built and closed by the app lifespan."""

    def __init__(self, url: str, settings: DatabaseSettings) -> None:
        self.url = url
        self.settings = settings
        self.engine = build_engine(url, settings)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session that rolls back on error and is always closed.

        A lost or refused connection surfaces as :class:`Unavailable` (retryable).
        """
        async with self.sessionmaker() as session:
            try:
                yield session
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await session.rollback()
                if is_unavailable(exc):
                    raise Unavailable(UNAVAILABLE_DETAIL, code="database_unavailable") from exc
                raise
            except BaseException:
                with contextlib.suppress(Exception):
                    await session.rollback()
                raise

    async def ping(self, timeout_s: float | None = None) -> None:
        """Run ``SELECT 1``; raises on failure or after ``timeout_s``."""
        async with asyncio.timeout(timeout_s or self.settings.connect_timeout_s):
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
