"""Every ORM model, imported in one place so Alembic and tests see the full metadata."""

from __future__ import annotations

from ragplatform.db.base import Base
from ragplatform.documents.models import Collection, Document
from ragplatform.jobs.models import Job
from ragplatform.tenancy.models import (
    ApiKey,
    AuditEvent,
    RefreshToken,
    RevokedToken,
    Tenant,
    User,
)

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Base",
    "Collection",
    "Document",
    "Job",
    "RefreshToken",
    "RevokedToken",
    "Tenant",
    "User",
    "metadata",
]
