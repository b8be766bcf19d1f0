"""/api/v1/api-keys — tenant admins manage their keys; platform admins manage platform keys."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from ragplatform.api.auth import AdminOrPlatform
from ragplatform.api.deps import RequestIdDep, SessionDep
from ragplatform.api.pagination import CursorQuery, LimitQuery
from ragplatform.tenancy import api_keys
from ragplatform.tenancy.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, PageOut

router = APIRouter(prefix="/api/v1/api-keys", tags=["api-keys"])


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an API key (shown once)")
async def create_key(
    body: ApiKeyCreate, principal: AdminOrPlatform, session: SessionDep, request_id: RequestIdDep
) -> ApiKeyCreated:
    """The response's `key` is the only time the key is shown; only its hash is stored."""
    key, plaintext = await api_keys.create_key(
        session, principal=principal, data=body, request_id=request_id
    )
    return ApiKeyCreated.model_validate(
        {**ApiKeyOut.model_validate(key).model_dump(), "key": plaintext}
    )


@router.get("", summary="List API keys")
async def list_keys(
    principal: AdminOrPlatform,
    session: SessionDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
    tenant_id: Annotated[
        uuid.UUID | None, Query(description="Platform admins: list this tenant's keys")
    ] = None,
) -> PageOut[ApiKeyOut]:
    """Keys of the caller's tenant (platform admins: platform keys or one tenant's)."""
    page = await api_keys.list_keys(
        session, principal=principal, cursor=cursor, limit=limit, tenant_id=tenant_id
    )
    return PageOut(
        items=[ApiKeyOut.model_validate(k) for k in page.items], next_cursor=page.next_cursor
    )


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke an API key")
async def revoke_key(
    key_id: uuid.UUID, principal: AdminOrPlatform, session: SessionDep, request_id: RequestIdDep
) -> Response:
    """Revocation takes effect on the next request."""
    await api_keys.revoke_key(session, principal=principal, key_id=key_id, request_id=request_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
