"""Query parameters shared by list endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from ragplatform.db.pagination import MAX_LIMIT

CursorQuery = Annotated[
    str | None, Query(max_length=512, description="next_cursor from the previous page")
]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")]
