from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.platform import ADMIN_KEY, Api, TenantFixture, bearer


def test_key_is_shown_once_and_only_hashed(api: Api, acme: TenantFixture) -> None:
    created = api.create_key(acme.owner_key, role="editor", name="ci")
    assert created["key"].startswith("rag_") and created["prefix"] == created["key"][:12]
    listed = api.ok(api.client.get("/api/v1/api-keys", headers=bearer(acme.owner_key)))
    assert created["key"] not in str(listed)
    row = next(k for k in listed["items"] if k["id"] == created["id"])
    assert "key" not in row and "key_hash" not in row
    me = api.ok(api.client.get("/api/v1/auth/me", headers=bearer(created["key"])))
    assert me["role"] == "editor"
    refreshed = api.ok(api.client.get("/api/v1/api-keys", headers=bearer(acme.owner_key)))
    used = next(k for k in refreshed["items"] if k["id"] == created["id"])
    assert used["last_used_at"] is not None


def test_platform_keys_and_tenant_keys_are_separate(api: Api, acme: TenantFixture) -> None:
    platform_key = api.create_key(ADMIN_KEY, role="platform_admin")
    assert platform_key["tenant_id"] is None
    platform_list = api.ok(api.client.get("/api/v1/api-keys", headers=bearer(ADMIN_KEY)))
    assert all(k["tenant_id"] is None for k in platform_list["items"])
    tenant_list = api.ok(
        api.client.get("/api/v1/api-keys", params={"tenant_id": acme.id}, headers=bearer(ADMIN_KEY))
    )
    assert tenant_list["items"] and all(k["tenant_id"] == acme.id for k in tenant_list["items"])
    bad = api.client.post(
        "/api/v1/api-keys", json={"name": "x", "role": "viewer"}, headers=bearer(ADMIN_KEY)
    )
    assert bad.status_code == 422
    bad_role = api.client.post(
        "/api/v1/api-keys",
        json={"name": "x", "role": "platform_admin"},
        headers=bearer(acme.owner_key),
    )
    assert bad_role.status_code == 422
    unknown_tenant = api.client.post(
        "/api/v1/api-keys",
        json={"name": "x", "role": "owner", "tenant_id": "00000000-0000-0000-0000-000000000001"},
        headers=bearer(ADMIN_KEY),
    )
    assert unknown_tenant.status_code == 404


def test_expiry_must_be_future_and_timezone_aware(api: Api, acme: TenantFixture) -> None:
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    naive = (datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None).isoformat()
    for value in (past, naive, "tomorrow"):
        response = api.client.post(
            "/api/v1/api-keys",
            json={"name": "x", "role": "viewer", "expires_at": value},
            headers=bearer(acme.owner_key),
        )
        assert response.status_code == 422, value
    future = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    created = api.create_key(acme.owner_key, role="viewer", expires_at=future)
    assert created["expires_at"] is not None


def test_scoped_keys(api: Api, acme: TenantFixture, globex: TenantFixture) -> None:
    from tests.documents_support import create_collection

    c1, c2, c3 = (create_collection(api.client, acme.owner_key, n) for n in ("c1", "c2", "c3"))
    scoped_admin = api.create_key(acme.owner_key, role="admin", collection_ids=[c1, c2, c1])
    assert scoped_admin["collection_ids"] == sorted([c1, c2])
    me = api.ok(api.client.get("/api/v1/auth/me", headers=bearer(scoped_admin["key"])))
    assert me["collection_ids"] == sorted([c1, c2])
    # A scoped key cannot mint a key that sees more than it does.
    for scope in (None, [c1, c3]):
        body = {"name": "x", "role": "viewer", "collection_ids": scope}
        response = api.client.post(
            "/api/v1/api-keys", json=body, headers=bearer(scoped_admin["key"])
        )
        assert response.status_code == 403, scope
    narrower = api.create_key(scoped_admin["key"], role="viewer", collection_ids=[c2])
    assert narrower["collection_ids"] == [c2]
    # Unknown, malformed and foreign collection ids are refused alike (no existence leak).
    foreign = create_collection(api.client, globex.owner_key, "theirs")
    answers = []
    for bad in ("00000000-0000-0000-0000-000000000000", foreign, "not-an-id"):
        response = api.client.post(
            "/api/v1/api-keys",
            json={"name": "x", "role": "viewer", "collection_ids": [bad]},
            headers=bearer(acme.owner_key),
        )
        assert response.status_code == 422, bad
        answers.append(response.json()["detail"].replace(bad, "<id>"))
    assert answers[0] == answers[1]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "", "role": "viewer"},
        {"name": "n" * 201, "role": "viewer"},
        {"name": "x", "role": "superuser"},
        {"name": "x", "role": "viewer", "collection_ids": ["c"] * 1001},
        {"name": "x", "role": "viewer", "collection_ids": ["x" * 65]},
        {"name": "x", "role": "viewer", "hash": "abc"},
    ],
)
def test_bad_key_input(api: Api, acme: TenantFixture, body: dict) -> None:  # type: ignore[type-arg]
    response = api.client.post("/api/v1/api-keys", json=body, headers=bearer(acme.owner_key))
    assert response.status_code == 422, response.text


def test_revoke_is_idempotent_and_role_bounded(api: Api, acme: TenantFixture) -> None:
    admin_key = api.create_key(acme.owner_key, role="admin")
    owner_key2 = api.create_key(acme.owner_key, role="owner")
    denied = api.client.delete(
        f"/api/v1/api-keys/{owner_key2['id']}", headers=bearer(admin_key["key"])
    )
    assert denied.status_code == 403
    viewer = api.create_key(acme.owner_key, role="viewer")
    for _ in range(2):
        revoked = api.client.delete(
            f"/api/v1/api-keys/{viewer['id']}", headers=bearer(admin_key["key"])
        )
        assert revoked.status_code == 204
    assert api.client.get("/api/v1/auth/me", headers=bearer(viewer["key"])).status_code == 401
    # Platform admins can revoke a tenant's key (e.g. a leaked owner key).
    assert (
        api.client.delete(
            f"/api/v1/api-keys/{owner_key2['id']}", headers=bearer(ADMIN_KEY)
        ).status_code
        == 204
    )
