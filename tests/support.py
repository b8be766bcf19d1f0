"""Helpers shared by the tests: settings, real databases, a TCP proxy for fault injection."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ragplatform.db import migrate
from ragplatform.db.engine import Database
from ragplatform.settings import Settings

TEST_SECRET = "test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
PG_HOST = os.environ.get("RAG_TEST_POSTGRES_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("RAG_TEST_POSTGRES_PORT", "5432"))
PG_USER = os.environ.get("RAG_TEST_POSTGRES_USER", "postgres")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test: isolated data dir, test env, JSON logs, no .env file."""
    values: dict[str, Any] = {
        "env": "test",
        "data_dir": data_dir,
        "auth": {"secret_key": TEST_SECRET},
        "log": {"format": "json", "level": "INFO"},
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def reachable(host: str, port: int) -> bool:
    """True when a TCP connection to host:port succeeds within a second."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a server is unreachable; with CI=true, fail instead."""
    if reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message}, and CI=true requires it")
    pytest.skip(message)


async def _pg_admin(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def throwaway_postgres(port: int | None = None) -> Iterator[str]:
    """A fresh empty PostgreSQL database, dropped afterwards; yields its async URL."""
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    name = f"ragtest_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{port or PG_PORT}/{name}"
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def migrate_to_head(settings: Settings) -> None:
    """Apply every migration to the settings' database."""

    async def run() -> None:
        db = Database(settings.database_url, settings.database)
        try:
            await migrate.upgrade(db)
        finally:
            await db.dispose()

    asyncio.run(run())


class TcpProxy:
    """A loopback TCP proxy that can be cut and restored, to simulate a database outage."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._server.settimeout(0.2)
        self._up = threading.Event()
        self._up.set()
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Refuse new connections and kill every open one."""
        self._up.clear()
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        """Accept connections again."""
        self._up.set()

    def close(self) -> None:
        """Stop the proxy."""
        self.cut()
        self._stop.set()
        self._server.close()
        self._thread.join(timeout=2)


@functools.cache
def shared_model() -> Any:
    """The real MiniLM model, loaded once per test session."""
    from ragplatform.adapters.embedders.sentence_transformers import load_model
    from ragplatform.settings import EmbeddingSettings

    return load_model(EmbeddingSettings())


async def shared_embedder(settings: Any, **_options: Any) -> Any:
    """A real LocalEmbedder (own cache, semaphore) around the session's one loaded model."""
    from ragplatform.adapters.embedders.sentence_transformers import LocalEmbedder

    return LocalEmbedder(model=shared_model(), settings=settings)
