"""Resolve a bearer credential (API key or JWT) to a :class:`Principal`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from ragplatform.errors import PermissionDenied, Unauthenticated
from ragplatform.observability.logging import get_logger
from ragplatform.settings import AuthSettings
from ragplatform.tenancy import keys, tokens
from ragplatform.tenancy.models import ApiKey, RevokedToken, Tenant, User
from ragplatform.tenancy.principal import Principal
from ragplatform.tenancy.roles import Role

_log = get_logger("ragplatform.auth")
LAST_USED_RESOLUTION = timedelta(seconds=60)
_INVALID_KEY = "the API key is invalid, revoked or expired"


async def authenticate(session: AsyncSession, *, token: str, auth: AuthSettings) -> Principal:
    """The caller behind ``token``; raises Unauthenticated or PermissionDenied."""
    if keys.looks_like_key(token):
        return await _from_api_key(session, token)
    if tokens.looks_like_jwt(token):
        return await _from_access_token(session, token, auth)
    raise Unauthenticated(
        "unrecognised credential: send 'Authorization: Bearer <rag_… API key or access token>'",
        code="invalid_credential",
    )


async def _touch(session: AsyncSession, key_id: uuid.UUID, now: datetime) -> None:
    """Record ``last_used_at``: best effort, a busy database must not fail the request."""
    try:
        await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
        await session.commit()
    except OperationalError:
        await session.rollback()
        _log.info("api_key_last_used_skipped", key_id=str(key_id))


def _check_tenant(tenant: Tenant | None) -> Tenant:
    if tenant is None or tenant.status == "deleting":
        raise Unauthenticated("the credential is no longer valid", code="invalid_credential")
    if tenant.status == "suspended":
        raise PermissionDenied("this tenant is suspended", code="tenant_suspended")
    return tenant


async def _active_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant:
    return _check_tenant(await session.get(Tenant, tenant_id))


async def _from_api_key(session: AsyncSession, token: str) -> Principal:
    now = datetime.now(UTC)
    rows = (
        await session.execute(
            select(ApiKey, Tenant)
            .outerjoin(Tenant, Tenant.id == ApiKey.tenant_id)
            .where(ApiKey.prefix == keys.display_prefix(token), ApiKey.revoked_at.is_(None))
        )
    ).all()
    match = next(((k, t) for k, t in rows if keys.verify(token, k.key_hash)), None)
    if match is None or (match[0].expires_at is not None and match[0].expires_at <= now):
        raise Unauthenticated(_INVALID_KEY, code="invalid_credential")
    key, tenant = match
    slug = None
    if key.tenant_id is not None:  # one query: the key and its tenant
        slug = _check_tenant(tenant).slug
    principal = Principal(
        kind="api_key",
        id=key.id,
        role=Role(key.role),
        tenant_id=key.tenant_id,
        tenant_slug=slug,
        collection_ids=frozenset(key.collection_ids) if key.collection_ids is not None else None,
    )
    # Last: a failed touch rolls the session back, which expires the loaded key.
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        await _touch(session, principal.id, now)
    return principal


async def _from_access_token(session: AsyncSession, token: str, auth: AuthSettings) -> Principal:
    claims = tokens.decode_access_token(auth, token)
    if await session.get(RevokedToken, claims.jti) is not None:
        raise Unauthenticated("the access token was revoked", code="invalid_token")
    user = await session.get(User, claims.sub)
    if user is None or user.tenant_id != claims.tenant or user.disabled:
        raise Unauthenticated("the access token is invalid", code="invalid_token")
    cutoff = user.sessions_valid_after
    if cutoff is not None and claims.iat < cutoff.timestamp():
        raise Unauthenticated("the session has ended; log in again", code="invalid_token")
    tenant = await _active_tenant(session, user.tenant_id)
    # The role comes from the database, so a demotion takes effect at once.
    return Principal(
        kind="user",
        id=user.id,
        role=Role(user.role),
        tenant_id=user.tenant_id,
        tenant_slug=tenant.slug,
        token_jti=claims.jti,
        token_expires_at=float(claims.exp),
    )
