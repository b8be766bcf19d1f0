"""Recognise database failures that mean 'the database is unavailable', not 'a bug'."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

_TRANSIENT_SQLITE = ("locked", "busy", "unable to open", "disk i/o")


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not s for s in seen):
        seen.append(current)
        current = current.__cause__ or getattr(current, "orig", None)
    return seen


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` is a lost, refused or busy database, not a programming error."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.InterfaceError | sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return True
    for link in _chain(exc):
        if isinstance(link, ConnectionError | TimeoutError | OSError):
            return True
        module = type(link).__module__
        if module.startswith("asyncpg") and (
            "Connection" in type(link).__name__ or "CannotConnect" in type(link).__name__
        ):
            return True
        if module == "sqlite3" and type(link).__name__ == "OperationalError":
            return any(marker in str(link).lower() for marker in _TRANSIENT_SQLITE)
    return False
