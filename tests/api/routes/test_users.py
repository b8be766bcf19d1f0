from __future__ import annotations

import pytest

from tests.platform import STRONG_PASSWORD, Api, TenantFixture, bearer


def test_crud(any_api: Api) -> None:
    from tests.platform import make_tenant

    acme = make_tenant(any_api, "acme")
    owner = bearer(acme.owner_key)
    user = any_api.create_user(acme.owner_key, "Mixed.Case@Acme.Example", role="editor")
    assert user["email"] == "mixed.case@acme.example"
    assert "password" not in user and "password_hash" not in user
    listed = any_api.ok(any_api.client.get("/api/v1/users", headers=owner))
    assert [u["id"] for u in listed["items"]] == [user["id"]]
    patched = any_api.ok(
        any_api.client.patch(f"/api/v1/users/{user['id']}", json={"role": "admin"}, headers=owner)
    )
    assert patched["role"] == "admin"
    assert any_api.client.delete(f"/api/v1/users/{user['id']}", headers=owner).status_code == 204
    assert any_api.client.get(f"/api/v1/users/{user['id']}", headers=owner).status_code == 404


def test_email_unique_per_tenant_case_insensitive(
    api: Api, acme: TenantFixture, globex: TenantFixture
) -> None:
    api.create_user(acme.owner_key, "dup@example.com")
    again = api.client.post(
        "/api/v1/users",
        json={"email": "DUP@example.com", "password": STRONG_PASSWORD},
        headers=bearer(acme.owner_key),
    )
    assert again.status_code == 409 and again.json()["code"] == "email_taken"
    api.create_user(globex.owner_key, "dup@example.com")  # another tenant: allowed


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"email": "not-an-email", "password": STRONG_PASSWORD}, 422),
        ({"email": "a" * 310 + "@example.com", "password": STRONG_PASSWORD}, 422),
        ({"email": "ok@example.com", "password": "short"}, 422),
        ({"email": "ok@example.com", "password": "x" * 300}, 422),
        ({"email": "ok@example.com", "password": "aaaaaaaaaaaaaaaa"}, 422),
        ({"email": "ok@example.com", "password": STRONG_PASSWORD, "role": "god"}, 422),
        ({"email": "ok@example.com", "password": STRONG_PASSWORD, "role": "platform_admin"}, 422),
        ({"email": "ok@example.com"}, 422),
        ({"email": "ok@example.com", "password": STRONG_PASSWORD, "extra": 1}, 422),
    ],
)
def test_bad_user_input(api: Api, acme: TenantFixture, body: dict, status: int) -> None:  # type: ignore[type-arg]
    response = api.client.post("/api/v1/users", json=body, headers=bearer(acme.owner_key))
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert STRONG_PASSWORD not in response.text


def test_unicode_email_is_accepted(api: Api, acme: TenantFixture) -> None:
    user = api.create_user(acme.owner_key, "josé@exämple.com")
    assert user["email"].startswith("josé@")


def test_nobody_grants_above_their_own_role(api: Api, acme: TenantFixture) -> None:
    admin_key = api.create_key(acme.owner_key, role="admin")["key"]
    as_admin = bearer(admin_key)
    owner_attempt = api.client.post(
        "/api/v1/users",
        json={"email": "o@acme.example", "password": STRONG_PASSWORD, "role": "owner"},
        headers=as_admin,
    )
    assert owner_attempt.status_code == 403
    editor = api.create_user(admin_key, "e@acme.example", role="editor")
    promote = api.client.patch(
        f"/api/v1/users/{editor['id']}", json={"role": "owner"}, headers=as_admin
    )
    assert promote.status_code == 403
    owner_user = api.create_user(acme.owner_key, "boss@acme.example", role="owner")
    demote_boss = api.client.patch(
        f"/api/v1/users/{owner_user['id']}", json={"role": "viewer"}, headers=as_admin
    )
    assert demote_boss.status_code == 403
    key_attempt = api.client.post(
        "/api/v1/api-keys", json={"name": "k", "role": "owner"}, headers=as_admin
    )
    assert key_attempt.status_code == 403


def test_last_active_owner_is_protected(api: Api, acme: TenantFixture) -> None:
    owner = bearer(acme.owner_key)
    boss = api.create_user(acme.owner_key, "boss@acme.example", role="owner")
    for request in (
        ("PATCH", {"role": "admin"}),
        ("PATCH", {"disabled": True}),
        ("DELETE", None),
    ):
        response = api.client.request(
            request[0], f"/api/v1/users/{boss['id']}", json=request[1], headers=owner
        )
        assert response.status_code == 409 and response.json()["code"] == "last_owner"
    api.create_user(acme.owner_key, "boss2@acme.example", role="owner")
    ok = api.client.patch(f"/api/v1/users/{boss['id']}", json={"role": "admin"}, headers=owner)
    assert ok.status_code == 200


def test_password_reset_ends_sessions(api: Api, acme: TenantFixture) -> None:
    user = api.create_user(acme.owner_key, "p@acme.example")
    tokens = api.login("acme", "p@acme.example")
    access = bearer(tokens["access_token"])
    assert api.client.get("/api/v1/auth/me", headers=access).status_code == 200
    new_password = "Another-Strong-Pass-77"
    api.ok(
        api.client.patch(
            f"/api/v1/users/{user['id']}",
            json={"password": new_password},
            headers=bearer(acme.owner_key),
        )
    )
    refresh = api.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 401
    ended = api.client.get("/api/v1/auth/me", headers=access)
    assert ended.status_code == 401, "the live access token dies with the reset"
    api.login("acme", "p@acme.example", status=401)
    assert api.login("acme", "p@acme.example", new_password)["access_token"]
