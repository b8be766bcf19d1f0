"""Request and response shapes of the tenancy API (pydantic; no HTTP here)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)

from ragplatform.tenancy.roles import Role

T = TypeVar("T")

Slug = Annotated[
    str,
    StringConstraints(min_length=2, max_length=63, pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Quota = Annotated[int, Field(ge=0, le=10**15)]
TenantRole = Literal["owner", "admin", "editor", "viewer"]
Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]


def _lower(value: str) -> str:
    return value.lower()


Email = Annotated[EmailStr, StringConstraints(max_length=320), AfterValidator(_lower)]


class Input(BaseModel):
    """Inputs reject unknown fields so typos are reported, not ignored."""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    """Outputs are built from ORM rows."""

    model_config = ConfigDict(from_attributes=True)


class PageOut(BaseModel, Generic[T]):
    """A page of a list; pass ``next_cursor`` as ``cursor`` for the next one."""

    items: list[T]
    next_cursor: str | None = None


class TenantCreate(Input):
    slug: Slug = Field(description="Lower-case letters, digits and dashes; used at login")
    name: Name
    quota_documents: Quota | None = None
    quota_bytes: Quota | None = None


class TenantUpdate(Input):
    name: Name | None = None
    status: Literal["active", "suspended"] | None = None
    quota_documents: Quota | None = None
    quota_bytes: Quota | None = None


class TenantOut(Output):
    id: uuid.UUID
    slug: str
    name: str
    status: str
    quota_documents: int | None
    quota_bytes: int | None
    created_at: datetime
    updated_at: datetime


class UserCreate(Input):
    email: Email
    password: Password
    role: TenantRole = "viewer"


class UserUpdate(Input):
    role: TenantRole | None = None
    disabled: bool | None = None
    password: Password | None = None


class UserOut(Output):
    id: uuid.UUID
    email: str
    role: str
    disabled: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None


def _future(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("must include a timezone, e.g. 2027-01-01T00:00:00Z")
    if value <= datetime.now(UTC):
        raise ValueError("must be in the future")
    return value


CollectionId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ApiKeyCreate(Input):
    name: Name
    role: Role = Role.VIEWER
    expires_at: Annotated[datetime | None, AfterValidator(_future)] = None
    collection_ids: list[CollectionId] | None = Field(
        default=None,
        max_length=1000,
        description="Restrict the key to these collections; omit for all collections",
    )
    tenant_id: uuid.UUID | None = Field(
        default=None, description="Platform admins only: create the key inside this tenant"
    )

    @field_validator("collection_ids")
    @classmethod
    def _dedupe(cls, value: list[str] | None) -> list[str] | None:
        return sorted(set(value)) if value is not None else None


class ApiKeyOut(Output):
    id: uuid.UUID
    name: str
    prefix: str
    role: str
    tenant_id: uuid.UUID | None
    collection_ids: list[str] | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself: shown only in this response")


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


class RefreshIn(Input):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class LogoutIn(Input):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None


class AuditEventOut(Output):
    id: uuid.UUID
    tenant_id: uuid.UUID | None
    actor: str
    action: str
    target_type: str | None
    target_id: str | None
    detail: dict[str, Any] | None
    request_id: str | None
    at: datetime


class JobOut(Output):
    id: uuid.UUID
    kind: str
    status: str
    progress: float
    attempts: int
    error: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobAccepted(BaseModel):
    job_id: uuid.UUID
    status: str


class MeOut(BaseModel):
    kind: str
    id: uuid.UUID
    role: str
    tenant_id: uuid.UUID | None
    tenant_slug: str | None
    collection_ids: list[str] | None
