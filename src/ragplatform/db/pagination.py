"""Keyset pagination with opaque cursors (stable under inserts, no OFFSET scans)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from ragplatform.errors import InvalidInput

T = TypeVar("T")
MAX_LIMIT = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results and the cursor of the next, if any."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(at: datetime, ident: uuid.UUID) -> str:
    """An opaque cursor after (at, ident)."""
    raw = json.dumps([at.isoformat(), str(ident)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Parse a cursor; a tampered or foreign one is a 422."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, ident = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(at), uuid.UUID(ident)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise InvalidInput("the cursor is invalid; pass next_cursor from a previous page") from None


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    order_col: InstrumentedAttribute[datetime],
    id_col: InstrumentedAttribute[uuid.UUID],
    cursor: str | None,
    limit: int,
    descending: bool = False,
) -> Page[Any]:
    """Run ``stmt`` one page at a time ordered by (order_col, id_col)."""
    if cursor:
        at, ident = decode_cursor(cursor)
        if descending:
            stmt = stmt.where(or_(order_col < at, and_(order_col == at, id_col < ident)))
        else:
            stmt = stmt.where(or_(order_col > at, and_(order_col == at, id_col > ident)))
    ordering = (order_col.desc(), id_col.desc()) if descending else (order_col, id_col)
    rows = list((await session.scalars(stmt.order_by(*ordering).limit(limit + 1))).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(getattr(last, order_col.key), getattr(last, id_col.key))
    return Page(rows, next_cursor)
