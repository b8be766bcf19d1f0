from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import exc as sa_exc

from ragplatform.db.errors import is_unavailable


def _wrap(orig: BaseException) -> sa_exc.OperationalError:
    return sa_exc.OperationalError("SELECT 1", {}, orig)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_wrap(sqlite3.OperationalError("database is locked")), True),
        (_wrap(sqlite3.OperationalError("no such table: x")), False),
        (_wrap(ConnectionRefusedError("refused")), True),
        (sa_exc.InterfaceError("SELECT 1", {}, Exception("closed")), True),
        (sa_exc.TimeoutError("pool exhausted"), True),
        (sa_exc.IntegrityError("INSERT", {}, Exception("unique")), False),
        (ValueError("bug"), False),
    ],
)
def test_is_unavailable(error: BaseException, expected: bool) -> None:
    assert is_unavailable(error) is expected


def test_invalidated_connection_is_unavailable() -> None:
    error = sa_exc.DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)
    assert is_unavailable(error)


def test_asyncpg_connection_errors_are_unavailable() -> None:
    import asyncpg

    error = sa_exc.DBAPIError("SELECT 1", {}, asyncpg.exceptions.ConnectionDoesNotExistError())
    assert is_unavailable(error)
