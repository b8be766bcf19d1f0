"""The archive format: entry names, the manifest, and the error a bad archive raises.

An archive is a tar (optionally gzip-compressed) of, in this order::

    vectors/<tenant id>/<part>.jsonl   chunks with base64 float32 dense vectors and payloads
    originals/<tenant id>/<sha256>     the uploaded bytes, content-addressed
    metadata/<nn>-<table>.jsonl        every table's rows, in foreign-key order
    manifest.json                      what the archive holds, with each entry's size and SHA-256
    manifest.sha256                    the SHA-256 of manifest.json

The manifest comes last because it records what the streamed entries turned out to be; an
archive cut short therefore lacks it and is refused as incomplete.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, Field, ValidationError

from ragplatform.errors import InvalidInput

FORMAT: Final = "ragplatform-archive"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_DIGEST = "manifest.sha256"
MAX_MANIFEST_BYTES = 256 << 20

ArchiveKind = Literal["backup", "tenant"]

CONSISTENCY_RULE = (
    "metadata from one database snapshot; for each document, the chunks of the indexed version "
    "recorded in that snapshot; a document whose chunks changed before they were exported is "
    "archived as queued and re-indexed from its original after a restore; a document whose "
    "original is missing or damaged is left out"
)

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_ENTRY = re.compile(
    rf"^(?:metadata/\d{{2}}-[a-z_]{{1,63}}\.jsonl"
    rf"|vectors/{_UUID}/\d{{6}}\.jsonl"
    rf"|originals/{_UUID}/[0-9a-f]{{64}})$"
)


class ArchiveError(InvalidInput):
    """The archive is not one this platform wrote, or it is damaged, incomplete or unusable."""

    code = "invalid_archive"


def metadata_name(position: int, table: str) -> str:
    """The entry holding a table's rows (``position`` is its place in the load order)."""
    return f"metadata/{position:02d}-{table}.jsonl"


def vectors_name(tenant_id: str, part: int) -> str:
    """The entry holding one part of a tenant's chunks."""
    return f"vectors/{tenant_id}/{part:06d}.jsonl"


def original_name(tenant_id: str, sha256: str) -> str:
    """The entry holding one stored original."""
    return f"originals/{tenant_id}/{sha256}"


def is_entry_name(name: str) -> bool:
    """Whether ``name`` is a data entry of the format (manifest files excluded)."""
    return _ENTRY.match(name) is not None


class Entry(BaseModel):
    """One data entry: its name, size in bytes and SHA-256 (hex)."""

    name: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class EmbeddingInfo(BaseModel):
    """The model that made the dense vectors; ``dimension`` is None when nothing was embedded."""

    model: str
    dimension: int | None = Field(default=None, ge=1)


class TenantRef(BaseModel):
    """The tenant a tenant archive holds."""

    id: str
    slug: str


class SkippedDocument(BaseModel):
    """A document the backup left out, and why."""

    id: str
    reason: str


class Consistency(BaseModel):
    """How the archive stayed consistent while the platform kept serving."""

    snapshot_at: datetime
    rule: str = CONSISTENCY_RULE
    requeued_documents: list[str] = Field(default_factory=list)
    dropped_documents: list[SkippedDocument] = Field(default_factory=list)


class Manifest(BaseModel):
    """What an archive holds; verified before anything is restored or imported."""

    format: Literal["ragplatform-archive"] = FORMAT
    format_version: int = FORMAT_VERSION
    kind: ArchiveKind
    platform_version: str
    alembic_revision: str
    embedding: EmbeddingInfo
    vector_backend: str
    database_backend: str
    created_at: datetime
    tenant: TenantRef | None = None
    tables: dict[str, int] = Field(description="rows per table, in load order")
    chunks: int = Field(ge=0)
    originals: int = Field(ge=0)
    consistency: Consistency
    entries: list[Entry]

    def encode(self) -> bytes:
        """The manifest as stored (indented JSON)."""
        return self.model_dump_json(indent=2).encode()


def digest(data: bytes) -> str:
    """SHA-256 of ``data`` as hex."""
    return hashlib.sha256(data).hexdigest()


def parse_manifest(data: bytes) -> Manifest:
    """The manifest, or an ArchiveError saying why the archive is foreign or unreadable."""
    try:
        raw: Any = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ArchiveError("not a ragplatform archive: its manifest is not JSON") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ArchiveError("not a ragplatform archive: the manifest names another format")
    version = raw.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ArchiveError("not a ragplatform archive: the manifest has no valid format version")
    if version > FORMAT_VERSION:
        raise ArchiveError(
            f"the archive has format version {version}, newer than this ragplatform reads "
            f"({FORMAT_VERSION}): upgrade ragplatform to restore it"
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ArchiveError(
            f"the archive's manifest is malformed: {where}: {first['msg']}"
        ) from None
