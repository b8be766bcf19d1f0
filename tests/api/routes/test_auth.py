"""Login, refresh, logout and bearer authentication through the real HTTP API (SQLite)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from ragplatform.api.problems import PROBLEM_MEDIA_TYPE
from ragplatform.db.engine import Database
from ragplatform.errors import PermissionDenied, Unauthenticated
from ragplatform.main import create_app
from ragplatform.settings import Settings
from ragplatform.tenancy import sessions
from ragplatform.tenancy.auth import authenticate
from ragplatform.tenancy.keys import generate_key
from ragplatform.tenancy.models import ApiKey, RefreshToken, Tenant, User
from ragplatform.tenancy.passwords import dummy_hash
from ragplatform.tenancy.roles import Role
from ragplatform.tenancy.tokens import new_refresh_token
from tests.conftest import platform_settings
from tests.platform import ADMIN_KEY, STRONG_PASSWORD, Api, TenantFixture, bearer, make_tenant
from tests.support import TEST_SECRET

TOKEN_URL = "/api/v1/auth/token"
REFRESH_URL = "/api/v1/auth/refresh"
LOGOUT_URL = "/api/v1/auth/logout"
ME_URL = "/api/v1/auth/me"
WRONG_PASSWORD = "Wrong-Horse-42-battery"
BAD_LOGIN_DETAIL = "invalid tenant, email or password"
GENEROUS = {"per_key": "10000/minute", "per_tenant": "10000/minute"}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:ragplatform:problem:{code}"
    assert body["title"]
    assert body["request_id"] == response.headers["x-request-id"]
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    return body


def form(
    tenant: str | None, email: str, password: str = STRONG_PASSWORD, **extra: str
) -> dict[str, str]:
    data = {"username": email, "password": password, "grant_type": "password", **extra}
    if tenant is not None:
        data["tenant"] = tenant
    return data


def post_login(
    api: Api, tenant: str | None, email: str, password: str = STRONG_PASSWORD, **extra: str
) -> httpx.Response:
    return api.client.post(TOKEN_URL, data=form(tenant, email, password, **extra))


def me(api: Api, token: str) -> httpx.Response:
    return api.client.get(ME_URL, headers=bearer(token))


def refresh(api: Api, refresh_token: str) -> httpx.Response:
    return api.client.post(REFRESH_URL, json={"refresh_token": refresh_token})


def logout(api: Api, access_token: str, refresh_token: str | None = None) -> httpx.Response:
    body = {"refresh_token": refresh_token} if refresh_token is not None else None
    return api.client.post(LOGOUT_URL, json=body, headers=bearer(access_token))


def patch_user(api: Api, tenant: TenantFixture, user_id: str, **changes: Any) -> dict[str, Any]:
    response = api.client.patch(
        f"/api/v1/users/{user_id}", json=changes, headers=bearer(tenant.owner_key)
    )
    result: dict[str, Any] = api.ok(response)
    return result


def set_tenant_status(api: Api, tenant: TenantFixture, status: str) -> None:
    response = api.client.patch(
        f"/api/v1/tenants/{tenant.id}", json={"status": status}, headers=bearer(ADMIN_KEY)
    )
    assert api.ok(response)["status"] == status


def audit_events(api: Api, token: str, action: str) -> list[dict[str, Any]]:
    response = api.client.get(
        "/api/v1/audit-events", params={"action": action}, headers=bearer(token)
    )
    items: list[dict[str, Any]] = api.ok(response)["items"]
    return items


def forge(**overrides: Any) -> str:
    """An access token signed with the test app's real secret (as if the secret had leaked)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(uuid.uuid4()),
        "tenant": str(uuid.uuid4()),
        "role": "viewer",
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "iss": "ragplatform",
        "aud": "ragplatform",
    }
    claims.update(overrides)
    return jwt.encode(claims, TEST_SECRET, algorithm="HS256")


@contextmanager
def rate_limited_api(migrated: Settings, **rates: str) -> Iterator[Api]:
    """A separate app whose login limits are ``rates`` (platform_settings replaces rate_limits)."""
    settings = platform_settings(migrated, rate_limits={**GENEROUS, **rates})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Api(client)


# -- login -------------------------------------------------------------------------------------


def test_login_returns_a_token_pair_that_authenticates(api: Api, acme: TenantFixture) -> None:
    user = api.create_user(acme.owner_key, "alice@acme.com", role="editor")
    pair = api.login("acme", "alice@acme.com")
    assert set(pair) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "refresh_expires_in",
    }
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == 900
    assert pair["refresh_expires_in"] == 14 * 86_400
    assert pair["refresh_token"].startswith("rfr_")
    assert pair["access_token"].count(".") == 2

    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    assert claims["sub"] == user["id"]
    assert claims["tenant"] == acme.id
    assert claims["role"] == "editor"

    response = me(api, pair["access_token"])
    assert api.ok(response) == {
        "kind": "user",
        "id": user["id"],
        "role": "editor",
        "tenant_id": acme.id,
        "tenant_slug": "acme",
        "collection_ids": None,
    }


def test_login_records_last_login(api: Api, acme: TenantFixture) -> None:
    user = api.create_user(acme.owner_key, "alice@acme.com")
    assert user["last_login_at"] is None
    api.login("acme", "alice@acme.com")
    after = api.ok(api.client.get(f"/api/v1/users/{user['id']}", headers=bearer(acme.owner_key)))
    assert after["last_login_at"] is not None


def test_email_and_tenant_are_case_insensitive(api: Api, acme: TenantFixture) -> None:
    api.create_user(acme.owner_key, "alice@acme.com")
    pair = api.login(" ACME ", "  Alice@ACME.com ")
    assert api.ok(me(api, pair["access_token"]))["tenant_slug"] == "acme"


def test_password_is_case_and_whitespace_sensitive(api: Api, acme: TenantFixture) -> None:
    api.create_user(acme.owner_key, "alice@acme.com")
    for attempt in (STRONG_PASSWORD.upper(), STRONG_PASSWORD + " ", " " + STRONG_PASSWORD):
        assert_problem(post_login(api, "acme", "alice@acme.com", attempt), 401, "invalid_login")


@pytest.mark.parametrize("scope", ["tenant:acme", "openid tenant:acme profile", "tenant:ACME"])
def test_tenant_can_be_named_in_the_scope(api: Api, acme: TenantFixture, scope: str) -> None:
    user = api.create_user(acme.owner_key, "alice@acme.com")
    response = post_login(api, None, "alice@acme.com", scope=scope)
    pair = api.ok(response)
    identity = api.ok(me(api, pair["access_token"]))
    assert (identity["id"], identity["tenant_slug"]) == (user["id"], "acme")


def test_tenant_field_wins_over_scope(api: Api, acme: TenantFixture, globex: TenantFixture) -> None:
    api.create_user(acme.owner_key, "alice@acme.com")
    pair = api.ok(post_login(api, "acme", "alice@acme.com", scope="tenant:globex"))
    assert api.ok(me(api, pair["access_token"]))["tenant_id"] == acme.id
    assert_problem(
        post_login(api, "globex", "alice@acme.com", scope="tenant:acme"), 401, "invalid_login"
    )


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"scope": "openid profile"},
        {"tenant": ""},
        {"scope": ""},
        {"tenant": "   "},
        {"scope": "tenant:"},
    ],
    ids=[
        "nothing",
        "scope-without-tenant",
        "empty-tenant",
        "empty-scope",
        "blank-tenant",
        "empty-tenant-scope",
    ],
)
def test_login_without_a_tenant_is_422(
    api: Api, acme: TenantFixture, extra: dict[str, str]
) -> None:
    api.create_user(acme.owner_key, "alice@acme.com")
    data = form(None, "alice@acme.com") | extra
    body = assert_problem(api.client.post(TOKEN_URL, data=data), 422, "invalid_input")
    assert "tenant" in body["detail"]


@pytest.mark.parametrize(
    ("drop", "override", "field"),
    [
        ("username", {}, "username"),
        ("password", {}, "password"),
        (None, {"grant_type": "client_credentials"}, "grant_type"),
        (None, {"password": ""}, "password"),
        (None, {"username": ""}, "username"),
    ],
)
def test_invalid_login_form_is_422(
    api: Api, drop: str | None, override: dict[str, str], field: str
) -> None:
    data = form("acme", "alice@acme.com") | override
    if drop:
        del data[drop]
    body = assert_problem(api.client.post(TOKEN_URL, data=data), 422, "validation_error")
    assert ["body", field] in [e["loc"] for e in body["errors"]]


def test_bad_logins_are_indistinguishable(
    api: Api, acme: TenantFixture, globex: TenantFixture
) -> None:
    api.create_user(acme.owner_key, "alice@acme.com")
    api.create_user(globex.owner_key, "gina@globex.com")
    attempts = [
        ("acme", "alice@acme.com", WRONG_PASSWORD),  # wrong password
        ("acme", "nobody@acme.com", STRONG_PASSWORD),  # unknown email
        ("initech", "alice@acme.com", STRONG_PASSWORD),  # unknown tenant
        ("acme", "gina@globex.com", STRONG_PASSWORD),  # a user of another tenant
    ]
    bodies = []
    for tenant, email, password in attempts:
        response = post_login(api, tenant, email, password)
        body = assert_problem(response, 401, "invalid_login")
        assert "access_token" not in body and password not in response.text
        bodies.append({k: v for k, v in body.items() if k != "request_id"})
    assert all(b == bodies[0] for b in bodies)
    assert bodies[0]["detail"] == BAD_LOGIN_DETAIL


def test_token_endpoint_requires_a_form(api: Api, acme: TenantFixture) -> None:
    api.create_user(acme.owner_key, "alice@acme.com")
    payload = form("acme", "alice@acme.com")
    assert_problem(api.client.post(TOKEN_URL, json=payload), 415, "unsupported_media_type")
    assert_problem(
        api.client.post(TOKEN_URL, content=b"", headers={"content-type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    assert_problem(api.client.post(TOKEN_URL), 415, "unsupported_media_type")
    # multipart/form-data is a form too.
    multipart = {name: (None, value) for name, value in payload.items()}
    response = api.client.post(TOKEN_URL, files=multipart)
    assert response.request.headers["content-type"].startswith("multipart/form-data")
    assert api.ok(response)["token_type"] == "bearer"


def test_oversize_login_fields_are_422(api: Api) -> None:
    long_email = "a" * (320 - len("@acme.com")) + "@acme.com"
    assert len(long_email) == 320
    # 320 characters is allowed (and simply fails) ...
    assert_problem(post_login(api, "acme", long_email), 401, "invalid_login")
    # ... 321 is refused before any lookup.
    for data, field in (
        (form("acme", "b" + long_email), "username"),
        (form("acme", "x" * 5000), "username"),
        (form("acme", "alice@acme.com", "P-4" * 86), "password"),  # 258
        (form("a" * 64, "alice@acme.com"), "tenant"),
    ):
        body = assert_problem(api.client.post(TOKEN_URL, data=data), 422, "validation_error")
        assert [e["loc"] for e in body["errors"]] == [["body", field]]


# -- disabled users and suspended tenants --------------------------------------------------------


def test_disabled_user_cannot_log_in_and_loses_sessions(api: Api, acme: TenantFixture) -> None:
    user = api.create_user(acme.owner_key, "alice@acme.com")
    pair = api.login("acme", "alice@acme.com")
    assert patch_user(api, acme, user["id"], disabled=True)["disabled"] is True

    body = assert_problem(post_login(api, "acme", "alice@acme.com"), 401, "invalid_login")
    assert body["detail"] == BAD_LOGIN_DETAIL  # does not reveal that the account exists
    assert_problem(refresh(api, pair["refresh_token"]), 401, "invalid_refresh_token")
    assert_problem(me(api, pair["access_token"]), 401, "invalid_token")

    # Re-enabling restores login, but the old sessions stay ended.
    assert patch_user(api, acme, user["id"], disabled=False)["disabled"] is False
    fresh = api.login("acme", "alice@acme.com")
    assert api.ok(me(api, fresh["access_token"]))["id"] == user["id"]
    assert_problem(refresh(api, pair["refresh_token"]), 401, "invalid_refresh_token")


def test_password_reset_ends_refresh_sessions(api: Api, acme: TenantFixture) -> None:
    user = api.create_user(acme.owner_key, "alice@acme.com")
    pair = api.login("acme", "alice@acme.com")
    new_password = "Brand-New-Passphrase-77"
    patch_user(api, acme, user["id"], password=new_password)
    assert_problem(refresh(api, pair["refresh_token"]), 401, "invalid_refresh_token")
    assert_problem(post_login(api, "acme", "alice@acme.com"), 401, "invalid_login")
    api.login("acme", "alice@acme.com", new_password)


def test_suspended_tenant_refuses_every_credential_until_reactivated(
    api: Api, acme: TenantFixture, globex: TenantFixture
) -> None:
    user = api.create_user(acme.owner_key, "alice@acme.com", role="admin")
    pair = api.login("acme", "alice@acme.com")
    viewer_key = api.create_key(acme.owner_key, role="viewer")["key"]
    credentials = [acme.owner_key, viewer_key, pair["access_token"]]

    set_tenant_status(api, acme, "suspended")
    for credential in credentials:
        assert_problem(me(api, credential), 403, "tenant_suspended")
        assert_problem(
            api.client.get("/api/v1/users", headers=bearer(credential)), 403, "tenant_suspended"
        )
    assert_problem(post_login(api, "acme", "alice@acme.com"), 403, "tenant_suspended")
    assert_problem(post_login(api, "acme", "alice@acme.com", WRONG_PASSWORD), 401, "invalid_login")
    assert_problem(refresh(api, pair["refresh_token"]), 403, "tenant_suspended")
    # Other tenants and the platform admin are unaffected.
    assert api.ok(me(api, globex.owner_key))["tenant_slug"] == "globex"
    tenant = api.ok(api.client.get(f"/api/v1/tenants/{acme.id}", headers=bearer(ADMIN_KEY)))
    assert tenant["status"] == "suspended"

    set_tenant_status(api, acme, "active")
    for credential in credentials:
        assert api.ok(me(api, credential))["tenant_slug"] == "acme"
    assert api.ok(me(api, api.login("acme", "alice@acme.com")["access_token"]))["id"] == user["id"]
    # The refresh token was not spent by the refused attempt during the suspension.
    rotated = api.ok(refresh(api, pair["refresh_token"]))
    assert api.ok(me(api, rotated["access_token"]))["id"] == user["id"]


# -- refresh -------------------------------------------------------------------------------------


def test_refresh_rotates_the_pair(api: Api, acme: TenantFixture) -> None:
    user = api.create_user(acme.owner_key, "alice@acme.com", role="editor")
    first = api.login("acme", "alice@acme.com")
    second = api.ok(refresh(api, first["refresh_token"]))
    assert second["token_type"] == "bearer"
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"].startswith("rfr_")
    identity = api.ok(me(api, second["access_token"]))
    assert (identity["id"], identity["role"], identity["kind"]) == (user["id"], "editor", "user")
    third = api.ok(refresh(api, second["refresh_token"]))
    assert api.ok(me(api, third["access_token"]))["id"] == user["id"]


def test_reusing_a_refresh_token_revokes_its_whole_family(api: Api, acme: TenantFixture) -> None:
    user = api.create_user(acme.owner_key, "alice@acme.com")
    first = api.login("acme", "alice@acme.com")
    other_session = api.login("acme", "alice@acme.com")
    second = api.ok(refresh(api, first["refresh_token"]))

    body = assert_problem(refresh(api, first["refresh_token"]), 401, "invalid_refresh_token")
    assert first["refresh_token"] not in body["detail"]
    # The newer token of the same family was revoked by the reuse.
    assert_problem(refresh(api, second["refresh_token"]), 401, "invalid_refresh_token")
    # A separate login is a separate family and keeps working.
    assert api.ok(refresh(api, other_session["refresh_token"]))["token_type"] == "bearer"

    events = audit_events(api, acme.owner_key, "refresh_token.reused")
    assert events
    assert events[-1]["target_id"] == user["id"]
    assert events[-1]["actor"] == f"user:{user['id']}"
    assert "refresh_token" not in (events[-1]["detail"] or {})


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"refresh_token": "rfr_" + "x" * 43}, 401, "invalid_refresh_token"),
        ({"refresh_token": "not-even-prefixed"}, 401, "invalid_refresh_token"),
        ({"refresh_token": ""}, 422, "validation_error"),
        ({"refresh_token": "r" * 257}, 422, "validation_error"),
        ({}, 422, "validation_error"),
        ({"refresh_token": "rfr_x", "tenant": "acme"}, 422, "validation_error"),
    ],
)
def test_bad_refresh_requests(api: Api, payload: dict[str, str], status: int, code: str) -> None:
    assert_problem(api.client.post(REFRESH_URL, json=payload), status, code)


def test_access_token_is_not_a_refresh_token(api: Api, acme: TenantFixture) -> None:
    api.create_user(acme.owner_key, "alice@acme.com")
    pair = api.login("acme", "alice@acme.com")
    response = refresh(api, pair["access_token"])
    # Refused either for its length (a JWT is longer than any refresh token) or as unknown.
    code = "validation_error" if response.status_code == 422 else "invalid_refresh_token"
    body = assert_problem(response, response.status_code, code)
    assert body["status"] in (401, 422) and "access_token" not in body
    # ... and a refresh token is not an access token.
    assert_problem(me(api, pair["refresh_token"]), 401, "invalid_credential")


# -- logout --------------------------------------------------------------------------------------


def test_logout_revokes_the_access_token(api: Api, acme: TenantFixture) -> None:
    api.create_user(acme.owner_key, "alice@acme.com")
    pair = api.login("acme", "alice@acme.com")
    other = api.login("acme", "alice@acme.com")

    response = logout(api, pair["access_token"])
    assert response.status_code == 204 and response.content == b""
    assert_problem(me(api, pair["access_token"]), 401, "invalid_token")
    assert_problem(logout(api, pair["access_token"]), 401, "invalid_token")
    # Only that access token: another session of the same user is untouched.
    assert api.ok(me(api, other["access_token"]))["kind"] == "user"
    events = audit_events(api, acme.owner_key, "logout")
    assert len(events) == 1


def test_logout_with_a_refresh_token_revokes_its_family(api: Api, acme: TenantFixture) -> None:
    api.create_user(acme.owner_key, "alice@acme.com")
    first = api.login("acme", "alice@acme.com")
    second = api.ok(refresh(api, first["refresh_token"]))
    other = api.login("acme", "alice@acme.com")

    response = logout(api, second["access_token"], second["refresh_token"])
    assert response.status_code == 204, response.text
    assert_problem(me(api, second["access_token"]), 401, "invalid_token")
    assert_problem(refresh(api, second["refresh_token"]), 401, "invalid_refresh_token")
    assert api.ok(refresh(api, other["refresh_token"]))["token_type"] == "bearer"


def test_logout_cannot_revoke_another_users_refresh_token(api: Api, acme: TenantFixture) -> None:
    api.create_user(acme.owner_key, "alice@acme.com")
    api.create_user(acme.owner_key, "bob@acme.com")
    alice = api.login("acme", "alice@acme.com")
    bob = api.login("acme", "bob@acme.com")
    assert logout(api, alice["access_token"], bob["refresh_token"]).status_code == 204
    assert api.ok(refresh(api, bob["refresh_token"]))["token_type"] == "bearer"


def test_logout_needs_an_access_token(api: Api, acme: TenantFixture) -> None:
    assert_problem(logout(api, acme.owner_key), 422, "invalid_input")
    assert api.ok(me(api, acme.owner_key))["kind"] == "api_key"  # the key is not revoked
    assert_problem(logout(api, ADMIN_KEY), 403, "tenant_credential_required")
    assert_problem(api.client.post(LOGOUT_URL), 401, "missing_credential")


# -- roles follow the database ------------------------------------------------------------------


def test_role_changes_take_effect_immediately(api: Api, acme: TenantFixture) -> None:
    user = api.create_user(acme.owner_key, "ann@acme.com", role="admin")
    token = api.login("acme", "ann@acme.com")["access_token"]
    users_url = "/api/v1/users"
    assert api.ok(api.client.get(users_url, headers=bearer(token)))["items"]

    patch_user(api, acme, user["id"], role="viewer")
    assert_problem(api.client.get(users_url, headers=bearer(token)), 403, "permission_denied")
    assert api.ok(me(api, token))["role"] == "viewer"
    # The token still claims "admin"; the database wins.
    assert jwt.decode(token, options={"verify_signature": False})["role"] == "admin"

    patch_user(api, acme, user["id"], role="owner")
    assert api.ok(me(api, token))["role"] == "owner"
    assert api.ok(api.client.get(users_url, headers=bearer(token)))["items"]


def test_forged_role_claim_is_ignored(api: Api, acme: TenantFixture) -> None:
    user = api.create_user(acme.owner_key, "vic@acme.com", role="viewer")
    token = forge(sub=user["id"], tenant=acme.id, role="owner")
    assert api.ok(me(api, token))["role"] == "viewer"
    assert_problem(api.client.get("/api/v1/users", headers=bearer(token)), 403, "permission_denied")


# -- malformed and forged credentials ------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        ("", "missing_credential"),
        ("Bearer", "missing_credential"),
        ("Bearer ", "missing_credential"),
        ("Basic dXNlcjpwYXNzd29yZA==", "missing_credential"),
        ("Token rag_platform_admin_test_key_0123456789abcdef", "missing_credential"),
        ("Bearer rag_short", "invalid_credential"),
        ("Bearer " + "x" * 5000, "invalid_credential"),
        ("Bearer rag_" + "x" * 5000, "invalid_credential"),
        ("Bearer a.b." + "c" * 5000, "invalid_credential"),
        ("Bearer rag_" + "0" * 40, "invalid_credential"),
        ("Bearer sk-" + "a" * 48, "invalid_credential"),
        ("Bearer a.b.c", "invalid_token"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.garbage.garbage", "invalid_token"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.e30.", "invalid_token"),
        ("Bearer ..", "invalid_token"),
        ("Bearer ...", "invalid_credential"),
        ("Bearer rag_ключ_ключ_ключ_ключ_ключ_ключ", "invalid_credential"),
        ("Bearer 🔑.🔑.🔑", "invalid_token"),
        ("Bearer rag_" + "é" * 30, "invalid_credential"),
    ],
    ids=lambda value: value[:24] if isinstance(value, str) else value,
)
def test_malformed_authorization_is_401_problem(api: Api, authorization: str, code: str) -> None:
    headers = {"Authorization": authorization.encode("utf-8")}
    for url in (ME_URL, "/api/v1/users"):
        response = api.client.get(url, headers=headers)  # type: ignore[arg-type]
        assert_problem(response, 401, code)


def test_bearer_scheme_is_case_insensitive(api: Api, acme: TenantFixture) -> None:
    response = api.client.get(ME_URL, headers={"Authorization": f"bearer {acme.owner_key}"})
    assert api.ok(response)["kind"] == "api_key"


def test_me_describes_platform_and_scoped_keys(api: Api, acme: TenantFixture) -> None:
    platform = api.ok(me(api, ADMIN_KEY))
    assert platform["kind"] == "api_key"
    assert platform["role"] == "platform_admin"
    assert (platform["tenant_id"], platform["tenant_slug"]) == (None, None)
    from tests.documents_support import create_collection

    a, b = (
        create_collection(api.client, acme.owner_key, "a"),
        create_collection(api.client, acme.owner_key, "b"),
    )
    scoped = api.create_key(acme.owner_key, role="viewer", collection_ids=[b, a, a])
    identity = api.ok(me(api, scoped["key"]))
    assert identity["collection_ids"] == sorted([a, b])
    assert identity["tenant_slug"] == "acme"


def test_forged_access_tokens_are_refused(
    api: Api, acme: TenantFixture, globex: TenantFixture
) -> None:
    user = api.create_user(acme.owner_key, "alice@acme.com")
    now = int(time.time())
    mine = {"sub": user["id"], "tenant": acme.id}
    assert api.ok(me(api, forge(**mine)))["id"] == user["id"]  # the baseline is accepted

    cases = {
        "token_expired": [forge(**mine, iat=now - 3600, exp=now - 60)],
        "invalid_token": [
            forge(),  # no such user
            forge(sub=user["id"], tenant=globex.id),  # the user is not in that tenant
            forge(**mine, iss="someone-else"),
            forge(**mine, aud="someone-else"),
            jwt.encode(
                {**jwt.decode(forge(**mine), options={"verify_signature": False})},
                "not-the-secret-0123456789abcdefghijklmnop",
                algorithm="HS256",
            ),
            jwt.encode(
                jwt.decode(forge(**mine), options={"verify_signature": False}),
                TEST_SECRET + TEST_SECRET,
                algorithm="HS512",
            ),
            jwt.encode(
                jwt.decode(forge(**mine), options={"verify_signature": False}),
                None,
                algorithm="none",
            ),
        ],
    }
    for code, forged in cases.items():
        for token in forged:
            assert_problem(me(api, token), 401, code)


# -- API keys --------------------------------------------------------------------------------------


def test_revoked_api_key_is_401(api: Api, acme: TenantFixture) -> None:
    key = api.create_key(acme.owner_key, role="editor")
    identity = api.ok(me(api, key["key"]))
    assert identity == {
        "kind": "api_key",
        "id": key["id"],
        "role": "editor",
        "tenant_id": acme.id,
        "tenant_slug": "acme",
        "collection_ids": None,
    }
    url = f"/api/v1/api-keys/{key['id']}"
    assert api.client.delete(url, headers=bearer(acme.owner_key)).status_code == 204
    body = assert_problem(me(api, key["key"]), 401, "invalid_credential")
    assert key["key"] not in body["detail"]
    assert api.client.delete(url, headers=bearer(acme.owner_key)).status_code == 204  # idempotent
    assert_problem(me(api, key["key"]), 401, "invalid_credential")


def test_api_key_with_a_future_expiry_works(api: Api, acme: TenantFixture) -> None:
    expires = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    key = api.create_key(acme.owner_key, role="viewer", expires_at=expires.isoformat())
    assert datetime.fromisoformat(key["expires_at"]) == expires
    assert api.ok(me(api, key["key"]))["id"] == key["id"]
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    response = api.client.post(
        "/api/v1/api-keys",
        json={"name": "stale", "role": "viewer", "expires_at": past},
        headers=bearer(acme.owner_key),
    )
    assert_problem(response, 422, "validation_error")


async def test_authenticate_refuses_expired_keys_and_unusable_tenants(
    migrated: Settings,
) -> None:
    """``authenticate`` against real rows: expired keys, suspended and deleting tenants."""
    now = datetime.now(UTC)
    active, suspended, deleting = (
        Tenant(id=uuid.uuid4(), slug=slug, name=slug, status=status)
        for slug, status in (("acme", "active"), ("frozen", "suspended"), ("gone", "deleting"))
    )
    keys = {
        name: generate_key()
        for name in ("expired", "live", "no_expiry", "suspended", "deleting", "revoked")
    }
    rows = {
        "expired": (active, now - timedelta(seconds=1), None),
        "live": (active, now + timedelta(hours=1), None),
        "no_expiry": (active, None, None),
        "suspended": (suspended, None, None),
        "deleting": (deleting, None, None),
        "revoked": (active, None, now - timedelta(minutes=5)),
    }
    db = Database(migrated.database_url, migrated.database)
    try:
        async with db.session() as session:
            session.add_all([active, suspended, deleting])
            await session.commit()
            for name, (tenant, expires_at, revoked_at) in rows.items():
                session.add(
                    ApiKey(
                        id=uuid.uuid4(),
                        tenant_id=tenant.id,
                        name=name,
                        prefix=keys[name].prefix,
                        key_hash=keys[name].key_hash,
                        role="editor",
                        expires_at=expires_at,
                        revoked_at=revoked_at,
                        source="api",
                    )
                )
            await session.commit()

        async with db.session() as session:
            for name in ("live", "no_expiry"):
                principal = await authenticate(
                    session, token=keys[name].plaintext, auth=migrated.auth
                )
                assert principal.kind == "api_key"
                assert principal.role is Role.EDITOR
                assert principal.tenant_id == active.id
                assert principal.tenant_slug == "acme"
            for name in ("expired", "deleting", "revoked"):
                with pytest.raises(Unauthenticated) as refused:
                    await authenticate(session, token=keys[name].plaintext, auth=migrated.auth)
                assert refused.value.code == "invalid_credential", name
            with pytest.raises(PermissionDenied) as denied:
                await authenticate(session, token=keys["suspended"].plaintext, auth=migrated.auth)
            assert denied.value.code == "tenant_suspended"
            # A key whose prefix matches but whose secret differs is refused too.
            near_miss = keys["live"].plaintext[:-1] + (
                "A" if keys["live"].plaintext[-1] != "A" else "B"
            )
            with pytest.raises(Unauthenticated):
                await authenticate(session, token=near_miss, auth=migrated.auth)
    finally:
        await db.dispose()


def test_deleted_tenant_credentials_stop_working(api: Api, acme: TenantFixture) -> None:
    api.create_user(acme.owner_key, "alice@acme.com")
    pair = api.login("acme", "alice@acme.com")
    response = api.client.delete(f"/api/v1/tenants/{acme.id}", headers=bearer(ADMIN_KEY))
    assert response.status_code == 202, response.text
    # Whether the deletion job has run yet or not, nothing of the tenant authenticates.
    for credential in (acme.owner_key, pair["access_token"]):
        response = me(api, credential)
        code = response.json().get("code")
        assert code in {"invalid_credential", "invalid_token"}, response.text
        assert_problem(response, 401, code)
    assert_problem(post_login(api, "acme", "alice@acme.com"), 401, "invalid_login")


async def _seed_sessions(db: Database) -> dict[str, tuple[str, uuid.UUID]]:
    """Tenants, users and refresh tokens written directly: expired and deleting-tenant cases."""
    now = datetime.now(UTC)
    active = Tenant(id=uuid.uuid4(), slug="acme", name="Acme", status="active")
    deleting = Tenant(id=uuid.uuid4(), slug="gone", name="Gone", status="deleting")
    alice = User(
        id=uuid.uuid4(),
        tenant_id=active.id,
        email="alice@acme.com",
        password_hash=dummy_hash(),
        role="viewer",
    )
    dave = User(
        id=uuid.uuid4(),
        tenant_id=deleting.id,
        email="dave@gone.com",
        password_hash=dummy_hash(),
        role="viewer",
    )
    specs = {
        "expired": (active, alice, now - timedelta(seconds=1)),
        "live": (active, alice, now + timedelta(hours=1)),
        "deleting": (deleting, dave, now + timedelta(hours=1)),
    }
    seeded: dict[str, tuple[str, uuid.UUID]] = {}
    async with db.session() as session:
        session.add_all([active, deleting])
        await session.commit()
        session.add_all([alice, dave])
        await session.commit()
        for name, (tenant, user, expires_at) in specs.items():
            plaintext, token_hash = new_refresh_token()
            row_id = uuid.uuid4()
            session.add(
                RefreshToken(
                    id=row_id,
                    tenant_id=tenant.id,
                    user_id=user.id,
                    family_id=uuid.uuid4(),
                    token_hash=token_hash,
                    expires_at=expires_at,
                )
            )
            seeded[name] = (plaintext, row_id)
        await session.commit()
    return seeded


async def test_expired_refresh_token_is_refused_and_not_spent(migrated: Settings) -> None:
    db = Database(migrated.database_url, migrated.database)
    try:
        seeded = await _seed_sessions(db)
        async with db.session() as session:
            with pytest.raises(Unauthenticated) as refused:
                await sessions.refresh(
                    session, refresh_token=seeded["expired"][0], auth=migrated.auth, request_id=None
                )
            assert refused.value.code == "invalid_refresh_token"
            issued = await sessions.refresh(
                session, refresh_token=seeded["live"][0], auth=migrated.auth, request_id=None
            )
            assert issued.refresh_token != seeded["live"][0]
        async with db.session() as session:
            expired = await session.get(RefreshToken, seeded["expired"][1])
            live = await session.get(RefreshToken, seeded["live"][1])
            assert expired is not None and expired.used_at is None
            assert live is not None and live.used_at is not None
    finally:
        await db.dispose()


async def test_refresh_for_a_tenant_being_deleted_is_unauthenticated(migrated: Settings) -> None:
    """A deleting tenant is treated as gone everywhere else (login, API keys, access tokens):
    refresh must not answer 403 "this tenant is suspended" for it."""
    db = Database(migrated.database_url, migrated.database)
    try:
        seeded = await _seed_sessions(db)
        async with db.session() as session:
            with pytest.raises(Unauthenticated) as refused:
                await sessions.refresh(
                    session,
                    refresh_token=seeded["deleting"][0],
                    auth=migrated.auth,
                    request_id=None,
                )
            assert refused.value.code == "invalid_refresh_token"
    finally:
        await db.dispose()


# -- brute-force lockout ---------------------------------------------------------------------------


def test_account_locks_after_failed_logins(migrated: Settings) -> None:
    with rate_limited_api(
        migrated, login_per_account="3 per 15 minutes", login_per_client="100 per 15 minutes"
    ) as api:
        acme, globex = make_tenant(api, "acme"), make_tenant(api, "globex")
        api.create_user(acme.owner_key, "alice@acme.com")
        api.create_user(acme.owner_key, "bob@acme.com")
        api.create_user(globex.owner_key, "alice@acme.com")

        for _ in range(3):
            assert_problem(
                post_login(api, "acme", "alice@acme.com", WRONG_PASSWORD), 401, "invalid_login"
            )
        # Locked: even the right password is refused, before it is checked.
        for password in (STRONG_PASSWORD, WRONG_PASSWORD):
            response = post_login(api, "acme", "alice@acme.com", password)
            body = assert_problem(response, 429, "login_locked")
            assert "access_token" not in body
            assert 1 <= int(response.headers["retry-after"]) <= 15 * 60
        # The lock is per account: case variants of the same account are locked too ...
        assert_problem(post_login(api, "ACME", "Alice@Acme.Com"), 429, "login_locked")
        # ... but other accounts of the tenant, and the same email in another tenant, are not.
        api.login("acme", "bob@acme.com")
        api.login("globex", "alice@acme.com")


def test_successful_login_resets_the_account_counter(migrated: Settings) -> None:
    with rate_limited_api(
        migrated, login_per_account="3 per 15 minutes", login_per_client="100 per 15 minutes"
    ) as api:
        acme = make_tenant(api, "acme")
        api.create_user(acme.owner_key, "alice@acme.com")
        for _ in range(3):
            for _ in range(2):
                assert_problem(
                    post_login(api, "acme", "alice@acme.com", WRONG_PASSWORD),
                    401,
                    "invalid_login",
                )
            api.login("acme", "alice@acme.com")
        # Six failures in all, never three in a row: never locked.
        for _ in range(3):
            assert_problem(
                post_login(api, "acme", "alice@acme.com", WRONG_PASSWORD), 401, "invalid_login"
            )
        assert_problem(post_login(api, "acme", "alice@acme.com"), 429, "login_locked")


def test_client_locks_after_failures_across_accounts(migrated: Settings) -> None:
    with rate_limited_api(
        migrated, login_per_account="100 per 15 minutes", login_per_client="3 per 15 minutes"
    ) as api:
        acme, globex = make_tenant(api, "acme"), make_tenant(api, "globex")
        api.create_user(acme.owner_key, "alice@acme.com")
        api.create_user(globex.owner_key, "gina@globex.com")
        for tenant, email in (
            ("acme", "one@acme.com"),
            ("acme", "two@acme.com"),
            ("globex", "three@globex.com"),
        ):
            assert_problem(post_login(api, tenant, email, WRONG_PASSWORD), 401, "invalid_login")
        for tenant, email in (("acme", "alice@acme.com"), ("globex", "gina@globex.com")):
            response = post_login(api, tenant, email)
            assert_problem(response, 429, "login_locked")
            assert int(response.headers["retry-after"]) >= 1
        # Credentials that are already issued keep working: only logins are locked.
        assert api.ok(me(api, acme.owner_key))["tenant_slug"] == "acme"


# -- audit trail -----------------------------------------------------------------------------------


def test_login_attempts_are_audited(api: Api, acme: TenantFixture, globex: TenantFixture) -> None:
    alice = api.create_user(acme.owner_key, "alice@acme.com")
    wrong = post_login(api, "acme", "alice@acme.com", WRONG_PASSWORD)
    assert_problem(wrong, 401, "invalid_login")
    assert_problem(post_login(api, "acme", "nobody@acme.com"), 401, "invalid_login")
    assert_problem(post_login(api, "initech", "alice@acme.com"), 401, "invalid_login")
    success = post_login(api, "acme", "alice@acme.com")
    api.ok(success)

    failed = audit_events(api, acme.owner_key, "login.failed")
    assert len(failed) == 2  # the unknown-tenant attempt belongs to no tenant
    unknown, known = failed  # newest first
    assert known["actor"] == "anonymous"
    assert known["tenant_id"] == acme.id
    assert (known["target_type"], known["target_id"]) == ("user", alice["id"])
    assert known["detail"] == {"email": "alice@acme.com", "tenant": "acme", "client": "testclient"}
    assert known["request_id"] == wrong.headers["x-request-id"]
    assert unknown["target_id"] is None
    assert unknown["detail"]["email"] == "nobody@acme.com"

    succeeded = audit_events(api, acme.owner_key, "login.succeeded")
    assert len(succeeded) == 1
    assert succeeded[0]["actor"] == f"user:{alice['id']}"
    assert succeeded[0]["target_id"] == alice["id"]
    assert succeeded[0]["tenant_id"] == acme.id
    assert succeeded[0]["request_id"] == success.headers["x-request-id"]

    # Tenants see only their own; the platform admin sees the tenant-less attempt too.
    assert audit_events(api, globex.owner_key, "login.failed") == []
    everything = audit_events(api, ADMIN_KEY, "login.failed")
    orphan = [e for e in everything if e["detail"]["tenant"] == "initech"]
    assert len(orphan) == 1 and orphan[0]["tenant_id"] is None

    listing = api.client.get("/api/v1/audit-events", headers=bearer(ADMIN_KEY)).text
    assert STRONG_PASSWORD not in listing and WRONG_PASSWORD not in listing
