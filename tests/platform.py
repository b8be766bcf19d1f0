"""A client wrapper for tenancy tests: a platform admin key and helpers that call the real API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

ADMIN_KEY = "rag_platform_admin_test_key_0123456789abcdef"
STRONG_PASSWORD = "Correct-Horse-42-battery"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Api:
    """Thin helpers over the real HTTP API; every call asserts the expected status."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.admin = bearer(ADMIN_KEY)

    def ok(self, response: Any, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    def create_tenant(self, slug: str, **extra: Any) -> dict[str, Any]:
        body = {"slug": slug, "name": slug.title(), **extra}
        return self.ok(self.client.post("/api/v1/tenants", json=body, headers=self.admin), 201)

    def create_key(
        self, token: str, *, role: str, tenant_id: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": f"{role} key", "role": role, **extra}
        if tenant_id is not None:
            body["tenant_id"] = tenant_id
        return self.ok(self.client.post("/api/v1/api-keys", json=body, headers=bearer(token)), 201)

    def create_user(
        self, token: str, email: str, role: str = "viewer", password: str = STRONG_PASSWORD
    ) -> dict[str, Any]:
        body = {"email": email, "password": password, "role": role}
        return self.ok(self.client.post("/api/v1/users", json=body, headers=bearer(token)), 201)

    def login(
        self, tenant: str, email: str, password: str = STRONG_PASSWORD, status: int = 200
    ) -> Any:
        form = {"username": email, "password": password, "tenant": tenant, "grant_type": "password"}
        return self.ok(self.client.post("/api/v1/auth/token", data=form), status)


@dataclass
class TenantFixture:
    """A tenant with an owner key and, optionally, more credentials."""

    id: str
    slug: str
    owner_key: str


def make_tenant(api: Api, slug: str) -> TenantFixture:
    tenant = api.create_tenant(slug)
    owner = api.create_key(ADMIN_KEY, role="owner", tenant_id=tenant["id"])
    return TenantFixture(id=tenant["id"], slug=slug, owner_key=owner["key"])
