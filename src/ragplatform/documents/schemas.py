"""Request and response shapes of the collections and documents API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from ragplatform.tenancy.schemas import Input, Output

CollectionName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]
Description = Annotated[str, StringConstraints(max_length=2000)]
DocumentStatus = Literal["queued", "processing", "ready", "failed"]
MAX_METADATA_BYTES = 16_384


def check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    """Metadata is a flat-ish JSON object of bounded size with string keys."""
    import json

    if len(json.dumps(value, default=str)) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata must be at most {MAX_METADATA_BYTES} bytes of JSON")
    for key in value:
        if not key or len(key) > 100 or key.startswith("_"):
            raise ValueError("metadata keys must be 1-100 characters and not start with '_'")
    return value


class CollectionCreate(Input):
    name: CollectionName
    description: Description = ""


class CollectionUpdate(Input):
    name: CollectionName | None = None
    description: Description | None = None


class CollectionOut(Output):
    id: uuid.UUID
    name: str
    description: str
    embedding_model: str
    embedding_dim: int
    created_at: datetime
    updated_at: datetime


class TextDocumentIn(Input):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    text: Annotated[str, StringConstraints(min_length=1)]
    metadata: dict[str, Any] = Field(default_factory=dict)

    _check = field_validator("metadata")(check_metadata)


class DocumentPatch(Input):
    metadata: dict[str, Any] = Field(description="Replaces the document's metadata")

    _check = field_validator("metadata")(check_metadata)


class DocumentOut(Output):
    id: uuid.UUID
    collection_id: uuid.UUID
    title: str
    source: str
    mime: str
    size: int
    sha256: str
    metadata: dict[str, Any] = Field(validation_alias="doc_metadata")
    status: str
    version: int
    chunk_count: int
    error: str | None
    job_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class UploadedDocument(BaseModel):
    id: uuid.UUID
    job_id: uuid.UUID | None
    title: str
    source: str
    status: str
    duplicate: bool
    replaced: bool = False


class UploadAccepted(BaseModel):
    documents: list[UploadedDocument]


class ChunkOut(BaseModel):
    id: uuid.UUID
    index: int
    text: str
    page: int | None = None
    heading_path: list[str] = Field(default_factory=list)
    token_count: int | None = None


class ChunkPage(BaseModel):
    items: list[ChunkOut]
    next_offset: int | None = None
