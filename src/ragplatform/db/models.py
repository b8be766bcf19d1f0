"""Every ORM model, imported in one place so Alembic and tests see the full metadata."""

from __future__ import annotations

from ragplatform.db.base import Base
from ragplatform.tenancy.models import ApiKey, Tenant

metadata = Base.metadata

__all__ = ["ApiKey", "Base", "Tenant", "metadata"]
