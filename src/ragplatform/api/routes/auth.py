"""/api/v1/auth — login, refresh, logout, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response, status

from ragplatform.api.auth import AnyCaller, LimiterDep, TenantViewer
from ragplatform.api.deps import RequestIdDep, SessionDep, SettingsDep
from ragplatform.errors import InvalidInput, UnsupportedMediaType
from ragplatform.tenancy import sessions
from ragplatform.tenancy.schemas import LogoutIn, MeOut, RefreshIn, TokenOut

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def require_form(request: Request) -> None:
    """The token endpoint takes an OAuth2 password form, nothing else."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _FORM_TYPES:
        raise UnsupportedMediaType(
            "send an application/x-www-form-urlencoded OAuth2 password form "
            "(grant_type=password, username, password, tenant)"
        )


def _tenant_from(tenant: str | None, scope: str) -> str:
    if tenant and tenant.strip():
        return tenant.strip().lower()
    for item in scope.split():
        slug = item.removeprefix("tenant:").strip().lower()
        if item.startswith("tenant:") and slug:
            return slug
    raise InvalidInput("name the tenant: a 'tenant' form field or a 'tenant:<slug>' scope")


@router.post(
    "/token",
    summary="Log in: OAuth2 password grant -> access + refresh token",
    dependencies=[Depends(require_form)],
)
async def token(
    *,
    request: Request,
    username: Annotated[str, Form(min_length=1, max_length=320, description="The user's email")],
    password: Annotated[str, Form(min_length=1, max_length=256)],
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    request_id: RequestIdDep,
    tenant: Annotated[str | None, Form(max_length=63, description="Tenant slug")] = None,
    scope: Annotated[str, Form(max_length=1024, description="Or 'tenant:<slug>'")] = "",
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
) -> TokenOut:
    """Failed attempts are counted per account and per client; over the limit -> 429."""
    attempt = sessions.LoginAttempt(
        tenant_slug=_tenant_from(tenant, scope),
        email=username.strip().lower(),
        password=password,
        client=request.client.host if request.client else "unknown",
    )
    return await sessions.login(
        session,
        attempt=attempt,
        auth=settings.auth,
        limiter=limiter,
        rates=settings.rate_limits,
        request_id=request_id,
    )


@router.post("/refresh", summary="Exchange a refresh token for a new token pair")
async def refresh(
    body: RefreshIn, session: SessionDep, settings: SettingsDep, request_id: RequestIdDep
) -> TokenOut:
    """Each refresh token works once; reusing one revokes its whole family."""
    return await sessions.refresh(
        session, refresh_token=body.refresh_token, auth=settings.auth, request_id=request_id
    )


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke this session")
async def logout(
    principal: TenantViewer,
    session: SessionDep,
    request_id: RequestIdDep,
    body: LogoutIn | None = None,
) -> Response:
    """Revokes the access token used for this call and, if given, the refresh token's family."""
    await sessions.logout(
        session,
        principal=principal,
        refresh_token=body.refresh_token if body else None,
        request_id=request_id,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", summary="The caller's identity, tenant and role")
async def me(principal: AnyCaller) -> MeOut:
    """Useful to check a credential."""
    return MeOut(
        kind=principal.kind,
        id=principal.id,
        role=principal.role.value,
        tenant_id=principal.tenant_id,
        tenant_slug=principal.tenant_slug,
        collection_ids=sorted(principal.collection_ids)
        if principal.collection_ids is not None
        else None,
    )
