"""The logical dump: table rows as JSON lines that load into SQLite and PostgreSQL alike.

Values are encoded by Python type (UUIDs and timestamps as text, JSON as JSON) and decoded by
the column's type, so an archive carries no backend-specific representation.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Table
from sqlalchemy.types import TypeDecorator

# Login sessions stay with the deployment that issued them: a moved tenant's users log in again.
SESSION_TABLES = frozenset({"refresh_tokens", "revoked_tokens"})
TENANTS = "tenants"


def all_tables() -> list[Table]:
    """Every table of the schema this version ships, parents before children."""
    from ragplatform.db.models import metadata

    return list(metadata.sorted_tables)


def tenant_tables() -> list[Table]:
    """The tables a tenant archive carries: the tenant and every row pointing at it."""
    return [
        table
        for table in all_tables()
        if table.name == TENANTS
        or ("tenant_id" in table.columns and table.name not in SESSION_TABLES)
    ]


def _encode(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def encode_row(row: Mapping[str, Any]) -> str:
    """One row as a JSON line (no newline)."""
    data = {key: _encode(value) for key, value in row.items()}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _python_type(table: Table, column: str) -> type | None:
    """The Python type a column holds (a decorated type's underlying one)."""
    column_type: Any = table.columns[column].type
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    try:
        kind: type = column_type.python_type
    except NotImplementedError:
        # SQLAlchemy's own signal (TypeEngine.python_type) for a type without a Python
        # equivalent: such a column's JSON value is loaded as it is, not converted
        return None
    return kind


_DECODERS: dict[type, Any] = {
    uuid.UUID: lambda v: uuid.UUID(str(v)),
    dt.datetime: lambda v: dt.datetime.fromisoformat(str(v)),
    dt.date: lambda v: dt.date.fromisoformat(str(v)),
    Decimal: lambda v: Decimal(str(v)),
    bytes: lambda v: base64.b64decode(str(v)),
}


def decode_value(kind: type | None, value: Any) -> Any:
    """A JSON value back to the column's Python type."""
    decoder = _DECODERS.get(kind) if kind is not None else None
    return value if value is None or decoder is None else decoder(value)


def decode_rows(table: Table, lines: Iterable[str]) -> list[dict[str, Any]]:
    """JSON lines back to insertable rows; unknown columns are refused."""
    kinds = {name: _python_type(table, name) for name in table.columns.keys()}  # noqa: SIM118
    rows = []
    for line in lines:
        data = json.loads(line)
        unknown = data.keys() - kinds.keys()
        if unknown:
            raise ValueError(f"table {table.name} has no column {sorted(unknown)[0]!r}")
        rows.append({key: decode_value(kinds[key], value) for key, value in data.items()})
    return rows


def primary_key(table: Table) -> str:
    """The single primary-key column every table of the schema has."""
    columns = list(table.primary_key.columns)
    if len(columns) != 1:
        raise ValueError(f"table {table.name} has no single-column primary key")
    return str(columns[0].name)
