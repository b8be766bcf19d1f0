"""Authentication and authorization dependencies.

Every route either declares an :class:`Authorize` rule through one of the aliases below or is
listed in :data:`PUBLIC_ROUTES`; a test walks the route table and fails on anything else.
"""

from __future__ import annotations

from typing import Annotated, Literal

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ragplatform.api.deps import SessionDep, SettingsDep
from ragplatform.errors import PermissionDenied, RateLimited, Unauthenticated
from ragplatform.ports import RateLimiter
from ragplatform.tenancy.auth import authenticate
from ragplatform.tenancy.principal import Principal
from ragplatform.tenancy.roles import Role

PUBLIC_ROUTES = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("POST", "/api/v1/auth/token"),
        ("POST", "/api/v1/auth/refresh"),
    }
)

_bearer = HTTPBearer(
    auto_error=False,
    description="An API key (`rag_…`) or an access token from POST /api/v1/auth/token",
)


async def get_limiter(request: Request) -> RateLimiter:
    """The app's rate limiter."""
    limiter: RateLimiter = request.state.limiter
    return limiter


LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]


async def _enforce_rates(request: Request, limiter: RateLimiter, principal: Principal) -> None:
    rates = request.state.settings.rate_limits
    if not rates.enabled:
        return
    checks: list[tuple[str, tuple[str, ...]]] = [
        (rates.per_key, ("credential", principal.kind, str(principal.id)))
    ]
    if principal.tenant_id is not None:
        checks.append((rates.per_tenant, ("tenant", str(principal.tenant_id))))
    for rate, key in checks:
        decision = await limiter.hit(rate, *key)
        if not decision.allowed:
            raise RateLimited(f"rate limit of {rate} exceeded", retry_after=decision.retry_after_s)


async def get_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated caller; 401 without a valid credential, 429 over its rate."""
    if credentials is None:
        raise Unauthenticated(
            "missing credential: send 'Authorization: Bearer <API key or access token>'",
            code="missing_credential",
        )
    principal = await authenticate(session, token=credentials.credentials, auth=settings.auth)
    if principal.tenant_id is not None:
        request.scope.setdefault("state", {})["tenant_id"] = str(principal.tenant_id)
        structlog.contextvars.bind_contextvars(tenant_id=str(principal.tenant_id))
    await _enforce_rates(request, limiter, principal)
    return principal


Rule = Literal["platform", "tenant", "either"]


class Authorize:
    """A route's authorization rule, evaluated after authentication."""

    def __init__(self, rule: Rule, minimum: Role = Role.VIEWER) -> None:
        self.rule = rule
        self.minimum = minimum

    def allows(self, role: Role) -> bool:
        """Whether a credential with ``role`` passes this rule (used by the route-matrix test)."""
        if role is Role.PLATFORM_ADMIN:
            return self.rule in ("platform", "either")
        if self.rule == "platform":
            return False
        from ragplatform.tenancy.roles import at_least

        return at_least(role, self.minimum)

    async def __call__(self, principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not self.allows(principal.role) or (
            principal.role is Role.PLATFORM_ADMIN and not principal.is_platform_admin
        ):
            if self.rule == "platform":
                raise PermissionDenied("this action needs a platform admin credential")
            if principal.is_platform_admin:
                raise PermissionDenied(
                    "this action needs a tenant credential; platform keys manage tenants only",
                    code="tenant_credential_required",
                )
            raise PermissionDenied(f"this action needs the {self.minimum.value} role or above")
        return principal

    def __repr__(self) -> str:
        return f"Authorize({self.rule!r}, {self.minimum.value!r})"


PlatformAdmin = Annotated[Principal, Depends(Authorize("platform"))]
TenantViewer = Annotated[Principal, Depends(Authorize("tenant", Role.VIEWER))]
TenantEditor = Annotated[Principal, Depends(Authorize("tenant", Role.EDITOR))]
TenantAdmin = Annotated[Principal, Depends(Authorize("tenant", Role.ADMIN))]
TenantOwner = Annotated[Principal, Depends(Authorize("tenant", Role.OWNER))]
AnyCaller = Annotated[Principal, Depends(Authorize("either", Role.VIEWER))]
AdminOrPlatform = Annotated[Principal, Depends(Authorize("either", Role.ADMIN))]
