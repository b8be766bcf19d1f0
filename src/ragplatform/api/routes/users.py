"""/api/v1/users — tenant admins manage their tenant's users."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from ragplatform.api.auth import TenantAdmin
from ragplatform.api.deps import RequestIdDep, SessionDep
from ragplatform.api.pagination import CursorQuery, LimitQuery
from ragplatform.tenancy import users
from ragplatform.tenancy.schemas import PageOut, UserCreate, UserOut, UserUpdate

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a user")
async def create_user(
    body: UserCreate, principal: TenantAdmin, session: SessionDep, request_id: RequestIdDep
) -> UserOut:
    """Email unique per tenant; the role cannot be above the caller's."""
    user = await users.create_user(session, principal=principal, data=body, request_id=request_id)
    return UserOut.model_validate(user)


@router.get("", summary="List users")
async def list_users(
    principal: TenantAdmin, session: SessionDep, cursor: CursorQuery = None, limit: LimitQuery = 50
) -> PageOut[UserOut]:
    """The tenant's users, oldest first."""
    page = await users.list_users(session, principal=principal, cursor=cursor, limit=limit)
    return PageOut(
        items=[UserOut.model_validate(u) for u in page.items], next_cursor=page.next_cursor
    )


@router.get("/{user_id}", summary="Get a user")
async def get_user(user_id: uuid.UUID, principal: TenantAdmin, session: SessionDep) -> UserOut:
    """One user of the caller's tenant."""
    return UserOut.model_validate(
        await users.get_user(session, principal=principal, user_id=user_id)
    )


@router.patch("/{user_id}", summary="Change role, disable or reset password")
async def update_user(
    user_id: uuid.UUID,
    body: UserUpdate,
    principal: TenantAdmin,
    session: SessionDep,
    request_id: RequestIdDep,
) -> UserOut:
    """Disabling or resetting the password ends the user's sessions."""
    user = await users.update_user(
        session, principal=principal, user_id=user_id, data=body, request_id=request_id
    )
    return UserOut.model_validate(user)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a user")
async def delete_user(
    user_id: uuid.UUID, principal: TenantAdmin, session: SessionDep, request_id: RequestIdDep
) -> Response:
    """The tenant's last active owner cannot be deleted."""
    await users.delete_user(session, principal=principal, user_id=user_id, request_id=request_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
