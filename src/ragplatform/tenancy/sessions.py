"""Login with email and password, rotating refresh tokens, logout; brute-force lockout."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ragplatform.errors import InvalidInput, PermissionDenied, RateLimited, Unauthenticated
from ragplatform.ports import RateLimiter
from ragplatform.settings import AuthSettings, RateLimitSettings
from ragplatform.tenancy import audit, tokens
from ragplatform.tenancy.models import RefreshToken, RevokedToken, Tenant, User
from ragplatform.tenancy.passwords import dummy_hash, verify_password
from ragplatform.tenancy.principal import Principal
from ragplatform.tenancy.schemas import TokenOut

_BAD_LOGIN = "invalid tenant, email or password"
_BAD_REFRESH = "the refresh token is invalid, expired or revoked"


@dataclass(frozen=True)
class LoginAttempt:
    """What the client sent to the token endpoint."""

    tenant_slug: str
    email: str
    password: str
    client: str


async def _issue(
    session: AsyncSession, auth: AuthSettings, user: User, family_id: uuid.UUID
) -> TokenOut:
    access, ttl = tokens.issue_access_token(
        auth, user_id=user.id, tenant_id=user.tenant_id, role=user.role
    )
    refresh, refresh_hash = tokens.new_refresh_token()
    session.add(
        RefreshToken(
            id=uuid.uuid4(),
            tenant_id=user.tenant_id,
            user_id=user.id,
            family_id=family_id,
            token_hash=refresh_hash,
            expires_at=datetime.now(UTC) + timedelta(seconds=auth.refresh_token_ttl_s),
        )
    )
    return TokenOut(
        access_token=access,
        expires_in=ttl,
        refresh_token=refresh,
        refresh_expires_in=auth.refresh_token_ttl_s,
    )


async def _check_lockout(
    limiter: RateLimiter, rates: RateLimitSettings, attempt: LoginAttempt
) -> None:
    for rate, key in (
        (rates.login_per_account, ("login-account", attempt.tenant_slug, attempt.email)),
        (rates.login_per_client, ("login-client", attempt.client)),
    ):
        decision = await limiter.peek(rate, *key)
        if not decision.allowed:
            raise RateLimited(
                "too many failed logins; try again later",
                retry_after=decision.retry_after_s,
                code="login_locked",
            )


async def login(
    session: AsyncSession,
    *,
    attempt: LoginAttempt,
    auth: AuthSettings,
    limiter: RateLimiter,
    rates: RateLimitSettings,
    request_id: str | None,
) -> TokenOut:
    """Tokens for a valid tenant + email + password; failures count towards a lockout."""
    await _check_lockout(limiter, rates, attempt)
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == attempt.tenant_slug))
    user = None
    if tenant is not None:
        user = await session.scalar(
            select(User).where(User.tenant_id == tenant.id, User.email == attempt.email)
        )
    # Always verify a hash, so timing does not reveal which part was wrong.
    valid = await verify_password(user.password_hash if user else dummy_hash(), attempt.password)
    if not valid or user is None or tenant is None or user.disabled or tenant.status == "deleting":
        await limiter.hit(
            rates.login_per_account, "login-account", attempt.tenant_slug, attempt.email
        )
        await limiter.hit(rates.login_per_client, "login-client", attempt.client)
        audit.record(
            session,
            action="login.failed",
            actor="anonymous",
            tenant_id=tenant.id if tenant and tenant.status != "deleting" else None,
            target_type="user",
            target_id=user.id if user else None,
            detail={
                "email": attempt.email,
                "tenant": attempt.tenant_slug,
                "client": attempt.client,
            },
            request_id=request_id,
        )
        await session.commit()
        raise Unauthenticated(_BAD_LOGIN, code="invalid_login")
    if tenant.status == "suspended":
        raise PermissionDenied("this tenant is suspended", code="tenant_suspended")
    await limiter.reset(
        rates.login_per_account, "login-account", attempt.tenant_slug, attempt.email
    )
    user.last_login_at = datetime.now(UTC)
    issued = await _issue(session, auth, user, uuid.uuid4())
    audit.record(
        session,
        action="login.succeeded",
        actor=f"user:{user.id}",
        tenant_id=tenant.id,
        target_type="user",
        target_id=user.id,
        detail={"client": attempt.client},
        request_id=request_id,
    )
    await session.commit()
    return issued


async def _revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


async def refresh(
    session: AsyncSession, *, refresh_token: str, auth: AuthSettings, request_id: str | None
) -> TokenOut:
    """Rotate: the presented token is spent; presenting a spent one revokes its whole family."""
    now = datetime.now(UTC)
    row = await session.scalar(
        select(RefreshToken).where(
            RefreshToken.token_hash == tokens.hash_refresh_token(refresh_token)
        )
    )
    if row is None:
        raise Unauthenticated(_BAD_REFRESH, code="invalid_refresh_token")
    spent = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.id == row.id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=now)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        await _revoke_family(session, row.family_id)
        audit.record(
            session,
            action="refresh_token.reused",
            actor=f"user:{row.user_id}",
            tenant_id=row.tenant_id,
            target_type="user",
            target_id=row.user_id,
            detail={"family_id": str(row.family_id)},
            request_id=request_id,
        )
        await session.commit()
        raise Unauthenticated(_BAD_REFRESH, code="invalid_refresh_token")
    user = await session.get(User, row.user_id)
    tenant = await session.get(Tenant, row.tenant_id)
    if (
        row.expires_at <= now
        or user is None
        or user.disabled
        or tenant is None
        or tenant.status == "deleting"
    ):
        await session.rollback()
        raise Unauthenticated(_BAD_REFRESH, code="invalid_refresh_token")
    if tenant.status == "suspended":
        await session.rollback()
        raise PermissionDenied("this tenant is suspended", code="tenant_suspended")
    issued = await _issue(session, auth, user, row.family_id)
    await session.commit()
    return issued


async def logout(
    session: AsyncSession,
    *,
    principal: Principal,
    refresh_token: str | None,
    request_id: str | None,
) -> None:
    """Revoke the presented access token and, if given, the refresh token's family."""
    if principal.kind != "user" or principal.token_jti is None or principal.tenant_id is None:
        raise InvalidInput(
            "logout ends an access-token session; revoke API keys with DELETE /api/v1/api-keys/{id}"
        )
    if await session.get(RevokedToken, principal.token_jti) is None:
        session.add(
            RevokedToken(
                jti=principal.token_jti,
                tenant_id=principal.tenant_id,
                expires_at=datetime.fromtimestamp(principal.token_expires_at or 0, UTC),
            )
        )
    if refresh_token:
        row = await session.scalar(
            select(RefreshToken).where(
                RefreshToken.token_hash == tokens.hash_refresh_token(refresh_token),
                RefreshToken.user_id == principal.id,
            )
        )
        if row is not None:
            await _revoke_family(session, row.family_id)
    audit.record(
        session,
        action="logout",
        actor=principal,
        tenant_id=principal.tenant_id,
        target_type="user",
        target_id=principal.id,
        request_id=request_id,
    )
    await session.commit()
