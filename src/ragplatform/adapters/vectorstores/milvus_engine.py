"""Milvus connections: the Milvus Lite file and its lock, a server, and failure mapping.

Milvus Lite (3.x) runs in this process: pymilvus starts a gRPC server on a free local port
for a ``.db`` path (one per path, kept until released) and talks to it like to a server.
Milvus Lite also locks the path, but a refused second opener only reads "Open local
milvus failed"; the lock here, on ``<file>.lock``, says in one line what happened, and also
refuses a second opener in this process (which pymilvus would share the server with).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import grpc  # type: ignore[import-untyped]
from pymilvus import MilvusClient, MilvusException  # type: ignore[import-untyped]

from ragplatform.errors import StartupError, Unavailable

_CONNECT_FAILED = 2
_RATE_LIMITED = 8
_RETRYABLE_GRPC = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def is_io(exc: BaseException) -> bool:
    """Connection failures, timeouts and rate limits are worth a retry; the rest are bugs.

    pymilvus wraps gRPC errors (and re-raises some ``from`` themselves): causes are followed
    once each.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, grpc.RpcError):
            code = getattr(current, "code", None)
            return callable(code) and code() in _RETRYABLE_GRPC
        if isinstance(current, OSError):
            return True
        if not isinstance(current, MilvusException):
            return False
        if current.code in (_CONNECT_FAILED, _RATE_LIMITED):
            return True
        current = current.__cause__ or current.__context__
    return False


def unavailable(exc: BaseException) -> Unavailable:
    """The domain error for a store that cannot serve (the API answers 503)."""
    error = Unavailable("the vector store is unavailable", code="vector_store_unavailable")
    error.__cause__ = exc
    return error


class LiteLock:
    """An exclusive advisory lock on ``<file>.lock``: one opener of a Milvus Lite file."""

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        self._fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            raise StartupError(
                f"the vector data under {path} is in use by another ragplatform process"
            ) from None

    def release(self) -> None:
        """Unlock (closing the descriptor releases the flock); harmless twice."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def open_lite(path: Path) -> tuple[MilvusClient, LiteLock]:
    """A client of the Milvus Lite file at ``path`` (created when missing), and its lock."""
    if path.suffix != ".db":
        raise StartupError(f"a Milvus Lite file must end in .db, not {path}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"cannot open the vector data under {path}: {exc}") from None
    lock = LiteLock(path)
    try:
        return MilvusClient(str(path)), lock
    except MilvusException as exc:
        lock.release()
        raise StartupError(
            f"cannot open the Milvus Lite data under {path} (is another program using it?): "
            f"{exc.message}"
        ) from None


def connect(uri: str, *, token: str | None, timeout_s: float) -> MilvusClient:
    """A client of the Milvus server at ``uri``; Unavailable when it cannot be reached."""
    try:
        return MilvusClient(uri=uri, token=token or "", timeout=timeout_s)
    except MilvusException as exc:
        if is_io(exc):
            raise unavailable(exc) from exc
        raise StartupError(f"cannot connect to Milvus at {uri}: {exc.message}") from None


def release_lite(path: Path) -> None:
    """Stop the in-process Milvus Lite server of ``path`` (pymilvus keeps it otherwise)."""
    from milvus_lite.server_manager import (  # type: ignore[import-untyped]
        server_manager_instance,
    )

    server_manager_instance.release_server(str(path))
