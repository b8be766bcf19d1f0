"""The logical dump: values survive JSON, tables come parents first, tenants carry their rows."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import Column, Integer, LargeBinary, MetaData, Numeric, Table, inspect

from ragplatform.backup.rows import (
    all_tables,
    decode_rows,
    decode_value,
    encode_row,
    primary_key,
    tenant_tables,
)
from ragplatform.db.engine import Database
from ragplatform.settings import Settings


def test_every_table_of_the_database_is_dumped(backend_settings: Settings) -> None:
    async def names() -> set[str]:
        db = Database(backend_settings.database_url, backend_settings.database)
        try:
            async with db.engine.connect() as conn:
                return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        finally:
            await db.dispose()

    found = asyncio.run(names()) - {"alembic_version"}
    assert found == {t.name for t in all_tables()}, "a table the backup would miss"


def test_tables_come_parents_first_and_tenant_archives_skip_sessions() -> None:
    order = [t.name for t in all_tables()]
    assert order.index("tenants") < order.index("collections") < order.index("documents")
    assert order.index("users") < order.index("refresh_tokens")
    scoped = [t.name for t in tenant_tables()]
    assert scoped.index("tenants") < scoped.index("users")
    assert {"users", "api_keys", "collections", "documents", "jobs", "audit_events"} <= set(scoped)
    assert not {"refresh_tokens", "revoked_tokens"} & set(scoped)
    assert all(primary_key(t) in ("id", "jti") for t in all_tables())


def test_values_round_trip_through_json() -> None:
    documents = next(t for t in all_tables() if t.name == "documents")
    row = {
        "id": uuid.uuid4(),
        "created_at": dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=dt.UTC),
        "metadata": {"team": "hr", "tags": ["a"], "n": 1.5},
        "indexed_version": None,
        "title": "Ünïcode ✓",
    }
    line = encode_row(row)
    assert "\n" not in line
    assert json.loads(line)["created_at"] == "2024-05-01T12:30:15.123456+00:00"
    [back] = decode_rows(documents, [line])
    assert back == row
    with pytest.raises(ValueError, match="no column 'nope'"):
        decode_rows(documents, ['{"nope": 1}'])


def test_other_column_types_decode_by_their_python_type() -> None:
    table = Table(
        "t",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("amount", Numeric),
        Column("blob", LargeBinary),
    )
    line = encode_row({"id": 1, "amount": Decimal("1.25"), "blob": b"\x00\xff"})
    assert json.loads(line)["blob"] == base64.b64encode(b"\x00\xff").decode()
    assert decode_rows(table, [line]) == [{"id": 1, "amount": Decimal("1.25"), "blob": b"\x00\xff"}]
    assert decode_value(dt.date, "2024-01-02") == dt.date(2024, 1, 2)
    assert decode_value(None, {"kept": True}) == {"kept": True}
    assert encode_row({"d": dt.date(2024, 1, 2)}) == '{"d":"2024-01-02"}'
    composite = Table(
        "c",
        MetaData(),
        Column("a", Integer, primary_key=True),
        Column("b", Integer, primary_key=True),
    )
    with pytest.raises(ValueError, match="single-column primary key"):
        primary_key(composite)
