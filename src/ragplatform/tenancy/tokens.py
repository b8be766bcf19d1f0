"""Access tokens (JWT, HS256) and opaque rotating refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from ragplatform.errors import Unauthenticated
from ragplatform.settings import AuthSettings

ALGORITHM = "HS256"
REFRESH_PREFIX = "rfr_"
_REQUIRED_CLAIMS = ["sub", "tenant", "role", "exp", "iat", "jti", "iss", "aud"]


@dataclass(frozen=True)
class AccessClaims:
    """The verified claims of an access token."""

    sub: uuid.UUID
    tenant: uuid.UUID
    role: str
    jti: str
    exp: int
    iat: float


def issue_access_token(
    settings: AuthSettings, *, user_id: uuid.UUID, tenant_id: uuid.UUID, role: str
) -> tuple[str, int]:
    """A signed access token and its lifetime in seconds."""
    issued = round(time.time(), 3)  # sub-second iat: a password reset cuts off exactly
    now = int(issued)
    ttl = settings.access_token_ttl_s
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "tenant": str(tenant_id),
        "role": role,
        "iat": issued,
        "nbf": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
        "iss": settings.issuer,
        "aud": settings.audience,
    }
    return jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm=ALGORITHM), ttl


def looks_like_jwt(token: str) -> bool:
    """Three dot-separated segments."""
    return token.count(".") == 2 and len(token) <= 4096


def decode_access_token(settings: AuthSettings, token: str) -> AccessClaims:
    """Verify signature, algorithm, expiry, issuer and audience; raise Unauthenticated."""
    try:
        claims = jwt.decode(
            token,
            settings.secret_key.get_secret_value(),
            algorithms=[ALGORITHM],
            audience=settings.audience,
            issuer=settings.issuer,
            options={"require": _REQUIRED_CLAIMS},
            leeway=5,
        )
        return AccessClaims(
            sub=uuid.UUID(str(claims["sub"])),
            tenant=uuid.UUID(str(claims["tenant"])),
            role=str(claims["role"]),
            jti=str(claims["jti"]),
            exp=int(claims["exp"]),
            iat=float(claims["iat"]),
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the access token has expired", code="token_expired") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise Unauthenticated("the access token is invalid", code="invalid_token") from None


def new_refresh_token() -> tuple[str, str]:
    """A fresh opaque refresh token and its stored hash."""
    token = REFRESH_PREFIX + secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    """SHA-256 of a refresh token (256 bits of entropy)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
