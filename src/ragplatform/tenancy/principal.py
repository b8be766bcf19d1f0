"""Who is calling: resolved from an API key or a JWT, carried through every service call."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from ragplatform.errors import PermissionDenied
from ragplatform.tenancy.roles import Role, at_least


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``tenant_id`` is None only for platform admins."""

    kind: Literal["api_key", "user"]
    id: uuid.UUID
    role: Role
    tenant_id: uuid.UUID | None
    tenant_slug: str | None = None
    collection_ids: frozenset[str] | None = None
    token_jti: str | None = None
    token_expires_at: float | None = None

    @property
    def is_platform_admin(self) -> bool:
        """A platform-level credential (no tenant)."""
        return self.role is Role.PLATFORM_ADMIN and self.tenant_id is None

    @property
    def actor(self) -> str:
        """How audit records name this caller."""
        return f"{self.kind}:{self.id}"

    def require_tenant(self) -> uuid.UUID:
        """The caller's tenant; platform credentials cannot act inside a tenant."""
        if self.tenant_id is None:
            raise PermissionDenied(
                "this action needs a tenant credential; platform keys manage tenants only",
                code="tenant_credential_required",
            )
        return self.tenant_id

    def require_role(self, minimum: Role) -> uuid.UUID:
        """The caller's tenant, if its role is ``minimum`` or above."""
        tenant_id = self.require_tenant()
        if not at_least(self.role, minimum):
            raise PermissionDenied(f"this action needs the {minimum.value} role or above")
        return tenant_id

    def scoped_collection_ids(self) -> list[uuid.UUID] | None:
        """The collections a scoped key is limited to (None: every collection)."""
        if self.collection_ids is None:
            return None
        scope = []
        for value in self.collection_ids:
            try:
                scope.append(uuid.UUID(value))
            except ValueError:
                continue  # a scope entry that names no collection grants nothing
        return scope

    def can_read_collection(self, collection_id: str) -> bool:
        """Scoped API keys see only their collections."""
        return self.collection_ids is None or collection_id in self.collection_ids
