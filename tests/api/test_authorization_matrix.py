"""Role x route matrix derived from the app's route table.

A route without an authorization rule (and not declared public) fails this test, and every
rule is exercised with a credential of each role.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from ragplatform.api.auth import PUBLIC_ROUTES, Authorize
from ragplatform.main import create_app
from ragplatform.settings import Settings
from ragplatform.tenancy.roles import Role
from tests.platform import ADMIN_KEY, Api, TenantFixture, bearer


def rule_of(dependant: Dependant) -> Authorize | None:
    for dep in dependant.dependencies:
        if isinstance(dep.call, Authorize):
            return dep.call
        found = rule_of(dep)
        if found is not None:
            return found
    return None


def api_routes(settings: Settings) -> list[tuple[str, str, Authorize | None]]:
    """(method, path, rule) of every API route, included routers flattened."""
    app = create_app(settings)
    rows = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            for method in sorted(context.methods or ()):
                rows.append((method, context.path_format, rule_of(route.dependant)))
    assert len(rows) > 10, "the route table was not read"
    return rows


def test_every_route_has_an_authorization_rule_or_is_public(migrated: Settings) -> None:
    rows = api_routes(migrated)
    unguarded = [(m, p) for m, p, rule in rows if rule is None and (m, p) not in PUBLIC_ROUTES]
    assert unguarded == [], f"routes without an authorization rule: {unguarded}"
    guarded_public = [(m, p) for m, p, rule in rows if rule is not None and (m, p) in PUBLIC_ROUTES]
    assert guarded_public == []
    declared = {(m, p) for m, p, _ in rows}
    assert declared >= PUBLIC_ROUTES, f"stale PUBLIC_ROUTES: {PUBLIC_ROUTES - declared}"


def test_public_routes_need_no_credential(api: Api) -> None:
    assert api.client.get("/healthz").status_code == 200
    assert api.client.get("/readyz").status_code == 200
    assert api.client.get("/metrics").status_code == 200
    assert api.client.post("/api/v1/auth/refresh", json={"refresh_token": "x"}).status_code == 401


ROLES = [Role.PLATFORM_ADMIN, Role.OWNER, Role.ADMIN, Role.EDITOR, Role.VIEWER]


@pytest.fixture
def credentials(api: Api, acme: TenantFixture) -> dict[Role, str]:
    creds = {Role.PLATFORM_ADMIN: ADMIN_KEY, Role.OWNER: acme.owner_key}
    for role in (Role.ADMIN, Role.EDITOR, Role.VIEWER):
        creds[role] = api.create_key(acme.owner_key, role=role.value)["key"]
    return creds


def error_code(body: dict[str, Any]) -> str:
    """The code of a problem document, or of an OpenAI error object (the /v1 routes)."""
    return str(body["error"]["code"] if "error" in body else body["code"])


def _call(client: TestClient, method: str, path: str, token: str) -> Any:
    concrete = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
    body = {} if method in {"POST", "PATCH", "PUT"} else None
    return client.request(method, concrete, json=body, headers=bearer(token))


def test_role_matrix(migrated: Settings, api: Api, credentials: dict[Role, str]) -> None:
    checked = 0
    for method, path, rule in api_routes(migrated):
        if rule is None:
            continue
        for role in ROLES:
            response = _call(api.client, method, path, credentials[role])
            assert response.status_code < 500, (method, path, role, response.text)
            if rule.allows(role):
                assert response.status_code not in (401, 403), (method, path, role, response.text)
            else:
                assert response.status_code == 403, (method, path, role, response.text)
                assert error_code(response.json()) in {
                    "permission_denied",
                    "tenant_credential_required",
                }
            checked += 1
        # Without a credential every guarded route is 401.
        anonymous = api.client.request(method, re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path))
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.headers["www-authenticate"] == "Bearer"
    assert checked >= 5 * 15
