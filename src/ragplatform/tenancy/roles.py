"""Roles and their order (ARCHITECTURE §3)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A credential's role; tenant roles are ordered owner > admin > editor > viewer."""

    PLATFORM_ADMIN = "platform_admin"
    OWNER = "owner"
    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"


TENANT_ROLE_RANK: dict[Role, int] = {Role.VIEWER: 1, Role.EDITOR: 2, Role.ADMIN: 3, Role.OWNER: 4}


def at_least(role: Role, minimum: Role) -> bool:
    """True when a tenant ``role`` is ``minimum`` or above."""
    return TENANT_ROLE_RANK.get(role, 0) >= TENANT_ROLE_RANK[minimum]
