"""User management inside a tenant (tenant admins and owners)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ragplatform.db.pagination import Page, paginate
from ragplatform.errors import Conflict, NotFound, PermissionDenied
from ragplatform.tenancy import audit
from ragplatform.tenancy.models import RefreshToken, User
from ragplatform.tenancy.passwords import check_strength, hash_password
from ragplatform.tenancy.principal import Principal
from ragplatform.tenancy.roles import Role, at_least
from ragplatform.tenancy.schemas import UserCreate, UserUpdate

_EMAIL_TAKEN = "a user with this email already exists in this tenant"


def _check_grant(principal: Principal, role: str) -> None:
    if not at_least(principal.role, Role(role)):
        raise PermissionDenied("you cannot grant a role above your own")


async def create_user(
    session: AsyncSession, *, principal: Principal, data: UserCreate, request_id: str | None
) -> User:
    """Create a user; email unique per tenant, password checked and hashed with argon2id."""
    tenant_id = principal.require_role(Role.ADMIN)
    _check_grant(principal, data.role)
    check_strength(data.password, email=data.email)
    exists = await session.scalar(
        select(User.id).where(User.tenant_id == tenant_id, User.email == data.email)
    )
    if exists is not None:
        raise Conflict(_EMAIL_TAKEN, code="email_taken")
    user = User(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        email=data.email,
        password_hash=await hash_password(data.password),
        role=data.role,
        disabled=False,
    )
    session.add(user)
    audit.record(
        session,
        action="user.created",
        actor=principal,
        tenant_id=tenant_id,
        target_type="user",
        target_id=user.id,
        detail={"email": data.email, "role": data.role},
        request_id=request_id,
    )
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(_EMAIL_TAKEN, code="email_taken") from None
    return user


async def list_users(
    session: AsyncSession, *, principal: Principal, cursor: str | None, limit: int
) -> Page[User]:
    """The tenant's users, oldest first."""
    tenant_id = principal.require_role(Role.ADMIN)
    return await paginate(
        session,
        select(User).where(User.tenant_id == tenant_id),
        order_col=User.created_at,
        id_col=User.id,
        cursor=cursor,
        limit=limit,
    )


async def get_user(session: AsyncSession, *, principal: Principal, user_id: uuid.UUID) -> User:
    """One user of the caller's tenant; others are 404."""
    tenant_id = principal.require_role(Role.ADMIN)
    user = await session.get(User, user_id)
    if user is None or user.tenant_id != tenant_id:
        raise NotFound("user not found")
    return user


async def _active_owners(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.tenant_id == tenant_id, User.role == Role.OWNER.value, User.disabled.is_(False))
    )
    return int(count or 0)


async def _guard_last_owner(session: AsyncSession, user: User) -> None:
    is_active_owner = user.role == Role.OWNER.value and not user.disabled
    if is_active_owner and await _active_owners(session, user.tenant_id) <= 1:
        raise Conflict("the tenant's last active owner cannot be removed", code="last_owner")


async def _revoke_sessions(session: AsyncSession, user: User) -> None:
    user.sessions_valid_after = datetime.now(UTC)
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


async def update_user(
    session: AsyncSession,
    *,
    principal: Principal,
    user_id: uuid.UUID,
    data: UserUpdate,
    request_id: str | None,
) -> User:
    """Change role, disable/enable or reset the password; sessions end on disable or reset."""
    user = await get_user(session, principal=principal, user_id=user_id)
    _check_grant(principal, user.role)  # no acting on someone above yourself
    changes = data.model_dump(exclude_unset=True, exclude={"password"})
    if data.role is not None:
        _check_grant(principal, data.role)
    if (data.role not in (None, Role.OWNER.value)) or data.disabled:
        await _guard_last_owner(session, user)
    for field, value in changes.items():
        setattr(user, field, value)
    if data.password is not None:
        check_strength(data.password, email=user.email)
        user.password_hash = await hash_password(data.password)
        changes["password_changed"] = True
    if data.disabled or data.password is not None:
        await _revoke_sessions(session, user)
    if changes:
        audit.record(
            session,
            action="user.updated",
            actor=principal,
            tenant_id=user.tenant_id,
            target_type="user",
            target_id=user.id,
            detail={"changes": changes},
            request_id=request_id,
        )
    await session.commit()
    return user


async def delete_user(
    session: AsyncSession, *, principal: Principal, user_id: uuid.UUID, request_id: str | None
) -> None:
    """Delete a user and end their sessions."""
    user = await get_user(session, principal=principal, user_id=user_id)
    _check_grant(principal, user.role)
    await _guard_last_owner(session, user)
    await session.delete(user)
    audit.record(
        session,
        action="user.deleted",
        actor=principal,
        tenant_id=user.tenant_id,
        target_type="user",
        target_id=user_id,
        detail={"email": user.email},
        request_id=request_id,
    )
    await session.commit()
