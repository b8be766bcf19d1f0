"""API key management: create (shown once), list, revoke."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ragplatform.db.pagination import Page, paginate
from ragplatform.errors import InvalidInput, NotFound, PermissionDenied
from ragplatform.tenancy import audit
from ragplatform.tenancy.keys import generate_key
from ragplatform.tenancy.models import ApiKey, Tenant
from ragplatform.tenancy.principal import Principal
from ragplatform.tenancy.roles import Role, at_least
from ragplatform.tenancy.schemas import ApiKeyCreate


async def _target_tenant(
    session: AsyncSession, principal: Principal, data: ApiKeyCreate
) -> uuid.UUID | None:
    """The tenant the new key belongs to (None: a platform key), after the role rules."""
    if principal.is_platform_admin:
        if data.tenant_id is None:
            if data.role is not Role.PLATFORM_ADMIN or data.collection_ids is not None:
                raise InvalidInput(
                    "a platform key has role platform_admin and no collection scope; "
                    "pass tenant_id to create a key inside a tenant"
                )
            return None
        tenant = await session.get(Tenant, data.tenant_id)
        if tenant is None or tenant.status == "deleting":
            raise NotFound("tenant not found")
        if data.role is Role.PLATFORM_ADMIN:
            raise InvalidInput("a tenant key cannot have the platform_admin role")
        return tenant.id
    tenant_id = principal.require_role(Role.ADMIN)
    if data.tenant_id is not None:
        raise InvalidInput("tenant_id may only be set by platform admins")
    if data.role is Role.PLATFORM_ADMIN:
        raise InvalidInput("a tenant key cannot have the platform_admin role")
    if not at_least(principal.role, data.role):
        raise PermissionDenied("you cannot grant a role above your own")
    if principal.collection_ids is not None and (
        data.collection_ids is None or not set(data.collection_ids) <= principal.collection_ids
    ):
        raise PermissionDenied("a collection-scoped key can only create keys within its scope")
    return tenant_id


async def _check_scope(
    session: AsyncSession, tenant_id: uuid.UUID | None, collection_ids: list[str] | None
) -> None:
    """Every scoped id is a collection of the key's tenant (foreign ids look unknown)."""
    if not collection_ids or tenant_id is None:
        return
    from ragplatform.documents.models import Collection

    wanted: set[uuid.UUID] = set()
    for value in collection_ids:
        try:
            wanted.add(uuid.UUID(value))
        except ValueError:
            raise InvalidInput(f"collection_ids: {value!r} is not a collection id") from None
    found = set(
        (
            await session.scalars(
                select(Collection.id).where(
                    Collection.tenant_id == tenant_id, Collection.id.in_(wanted)
                )
            )
        ).all()
    )
    if missing := sorted(str(c) for c in wanted - found):
        raise InvalidInput(f"collection_ids: unknown collection {missing[0]}")


async def create_key(
    session: AsyncSession, *, principal: Principal, data: ApiKeyCreate, request_id: str | None
) -> tuple[ApiKey, str]:
    """Create a key; the plaintext is returned once and never stored."""
    tenant_id = await _target_tenant(session, principal, data)
    await _check_scope(session, tenant_id, data.collection_ids)
    material = generate_key()
    key = ApiKey(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        name=data.name,
        prefix=material.prefix,
        key_hash=material.key_hash,
        role=data.role.value,
        collection_ids=data.collection_ids,
        expires_at=data.expires_at,
        source="api",
        created_at=datetime.now(UTC),
    )
    session.add(key)
    audit.record(
        session,
        action="api_key.created",
        actor=principal,
        tenant_id=tenant_id,
        target_type="api_key",
        target_id=key.id,
        detail={"name": data.name, "role": data.role.value, "prefix": material.prefix},
        request_id=request_id,
    )
    await session.commit()
    return key, material.plaintext


async def list_keys(
    session: AsyncSession,
    *,
    principal: Principal,
    cursor: str | None,
    limit: int,
    tenant_id: uuid.UUID | None = None,
) -> Page[ApiKey]:
    """The caller's tenant's keys; platform admins: platform keys, or one tenant's."""
    if principal.is_platform_admin:
        scope = ApiKey.tenant_id == tenant_id if tenant_id else ApiKey.tenant_id.is_(None)
    else:
        if tenant_id is not None and tenant_id != principal.tenant_id:
            raise InvalidInput("tenant_id may only be set by platform admins")
        scope = ApiKey.tenant_id == principal.require_role(Role.ADMIN)
    return await paginate(
        session,
        select(ApiKey).where(scope),
        order_col=ApiKey.created_at,
        id_col=ApiKey.id,
        cursor=cursor,
        limit=limit,
    )


async def revoke_key(
    session: AsyncSession, *, principal: Principal, key_id: uuid.UUID, request_id: str | None
) -> None:
    """Revoke a key at once (idempotent); keys of other tenants are 404."""
    key = await session.get(ApiKey, key_id)
    if principal.is_platform_admin:
        visible = key is not None
    else:
        visible = key is not None and key.tenant_id == principal.require_role(Role.ADMIN)
    if key is None or not visible:
        raise NotFound("API key not found")
    if not principal.is_platform_admin and not at_least(principal.role, Role(key.role)):
        raise PermissionDenied("you cannot revoke a key with a role above your own")
    if key.revoked_at is not None:
        return
    key.revoked_at = datetime.now(UTC)
    audit.record(
        session,
        action="api_key.revoked",
        actor=principal,
        tenant_id=key.tenant_id,
        target_type="api_key",
        target_id=key.id,
        detail={"name": key.name, "prefix": key.prefix},
        request_id=request_id,
    )
    await session.commit()
