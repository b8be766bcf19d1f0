"""Request and response shapes of search and answers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from ragplatform.ports import SearchMode
from ragplatform.retrieval.filters import MetadataFilter, parse_filter
from ragplatform.tenancy.schemas import Input

MAX_QUERY_CHARS = 2000
MAX_QUESTION_CHARS = 4000
FILTER_EXAMPLE = {
    "and": [
        {"field": "lang", "eq": "en"},
        {"field": "year", "gte": 2019},
        {"not": {"field": "tags", "in": ["draft", "obsolete"]}},
    ]
}
FILTER_DOC = (
    "Document-metadata filter: conditions {field, eq | in | gt/gte/lt/lte (numbers or ISO 8601 "
    "dates)} combined with {and: [...]}, {or: [...]}, {not: {...}}"
)


class Filtered(BaseModel):
    """A request that may narrow retrieval with a metadata ``filter`` (validated on input)."""

    filter: dict[str, Any] | None = Field(
        default=None, description=FILTER_DOC, examples=[FILTER_EXAMPLE]
    )

    @field_validator("filter")
    @classmethod
    def _valid_filter(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            parse_filter(value)
        return value

    def metadata_filter(self) -> MetadataFilter | None:
        """The parsed filter (validated on input)."""
        return None if self.filter is None else parse_filter(self.filter)


class _Scoped(Input, Filtered):
    collection_ids: list[uuid.UUID] | None = Field(
        default=None, max_length=100, description="Omit to use every readable collection"
    )


class SearchRequest(_Scoped):
    query: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUERY_CHARS)
    ]
    top_k: Annotated[int, Field(ge=1, le=100)] = 10
    mode: SearchMode = "hybrid"
    score_threshold: float | None = Field(
        default=None,
        description="Drop hits scoring below this (scores depend on the mode, or are the "
        "re-ranker's when one is configured)",
    )


class SearchHit(BaseModel):
    chunk_id: uuid.UUID
    text: str
    score: float = Field(
        description="Higher is more relevant. The engine's score on the mode's own scale "
        "(cosine for dense, fused for hybrid, BM25 for keyword), or, when the server re-ranks "
        "(RAG_RERANK__PROVIDER), the re-ranker's relevance score (hits are ordered by it)"
    )
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
    cached: bool = Field(default=False, description="Served from the result cache")


class AskRequest(_Scoped):
    question: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION_CHARS)
    ]
    top_k: Annotated[int, Field(ge=1, le=50)] | None = Field(
        default=None, description="Passages to retrieve (default: the server's setting)"
    )
    stream: bool = Field(default=False, description="Server-Sent Events instead of one JSON")


class Citation(BaseModel):
    n: int = Field(description="The number the answer cites as [n]")
    chunk_id: uuid.UUID
    document_id: uuid.UUID
    collection_id: uuid.UUID
    title: str | None = None
    source: str | None = None
    page: int | None = None
    heading_path: list[str] = Field(default_factory=list)
    quote: str


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AskResponse(BaseModel):
    answer: str
    citations: list[Citation]
    mode: Literal["extractive", "generative"]
    model: str
    usage: Usage
    cached: bool = Field(default=False, description="Served from the answer cache")
