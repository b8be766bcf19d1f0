"""The issue's walk-through as a new user would do it, on SQLite and on PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ragplatform.main import create_app
from ragplatform.settings import Settings
from tests.conftest import platform_settings
from tests.platform import ADMIN_KEY, STRONG_PASSWORD, Api, bearer, make_tenant


def test_tenancy_walkthrough(backend_settings: Settings) -> None:
    settings = platform_settings(
        backend_settings, rate_limits={"per_key": "12/minute", "per_tenant": "1000/minute"}
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        api = Api(client)
        # The platform admin creates two tenants, each with an owner key.
        acme = make_tenant(api, "acme")
        globex = make_tenant(api, "globex")

        # acme's owner creates a user and a viewer key.
        user = api.create_user(acme.owner_key, "dana@acme.example", role="editor")
        viewer = api.create_key(acme.owner_key, role="viewer")

        # The viewer key reads but cannot write.
        me = client.get("/api/v1/auth/me", headers=bearer(viewer["key"]))
        assert me.json()["role"] == "viewer"
        assert me.json()["tenant_slug"] == "acme"
        denied = client.post(
            "/api/v1/api-keys", json={"name": "x", "role": "viewer"}, headers=bearer(viewer["key"])
        )
        assert denied.status_code == 403
        assert denied.json()["code"] == "permission_denied"

        # globex's owner gets 404 for acme's objects, never 403.
        for method, path in (
            ("GET", f"/api/v1/users/{user['id']}"),
            ("PATCH", f"/api/v1/users/{user['id']}"),
            ("DELETE", f"/api/v1/users/{user['id']}"),
            ("DELETE", f"/api/v1/api-keys/{viewer['id']}"),
        ):
            response = client.request(
                method,
                path,
                json={"role": "viewer"} if method == "PATCH" else None,
                headers=bearer(globex.owner_key),
            )
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["code"] == "not_found"

        # The user logs in and uses the access token.
        tokens = api.login("acme", "dana@acme.example", STRONG_PASSWORD)
        whoami = client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))
        assert whoami.json() == {
            "kind": "user",
            "id": user["id"],
            "role": "editor",
            "tenant_id": acme.id,
            "tenant_slug": "acme",
            "collection_ids": None,
        }

        # A revoked key gets 401.
        revoked = client.delete(f"/api/v1/api-keys/{viewer['id']}", headers=bearer(acme.owner_key))
        assert revoked.status_code == 204
        gone = client.get("/api/v1/auth/me", headers=bearer(viewer["key"]))
        assert gone.status_code == 401

        # A burst beyond the configured per-key rate gets 429 with Retry-After.
        statuses = [
            client.get("/api/v1/auth/me", headers=bearer(globex.owner_key)).status_code
            for _ in range(15)
        ]
        assert 429 in statuses
        limited = client.get("/api/v1/auth/me", headers=bearer(globex.owner_key))
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["code"] == "rate_limited"
        # ... while other credentials are unaffected.
        assert client.get("/api/v1/auth/me", headers=bearer(ADMIN_KEY)).status_code == 200
