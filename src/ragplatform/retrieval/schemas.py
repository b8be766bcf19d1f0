"""Request and response shapes of search."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from ragplatform.ports import SearchMode
from ragplatform.tenancy.schemas import Input

MAX_QUERY_CHARS = 2000


class SearchRequest(Input):
    query: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUERY_CHARS)
    ]
    collection_ids: list[uuid.UUID] | None = Field(
        default=None, max_length=100, description="Omit to search every readable collection"
    )
    top_k: Annotated[int, Field(ge=1, le=100)] = 10
    mode: SearchMode = "hybrid"
    score_threshold: float | None = Field(
        default=None, description="Drop hits scoring below this (scores depend on the mode)"
    )


class SearchHit(BaseModel):
    chunk_id: uuid.UUID
    text: str
    score: float
    document_id: uuid.UUID
    collection_id: uuid.UUID
    title: str | None = None
    source: str | None = None
    page: int | None = None
    heading_path: list[str] = Field(default_factory=list)
    chunk_index: int
    metadata: dict[str, Any] = Field(default_factory=dict)


class SearchResponse(BaseModel):
    mode: SearchMode
    hits: list[SearchHit]
