from __future__ import annotations

import pytest

from tests.platform import ADMIN_KEY, Api, TenantFixture, bearer

ADMIN = bearer(ADMIN_KEY)


def test_create_get_list_update(any_api: Api) -> None:
    created = any_api.create_tenant("acme", quota_documents=100)
    assert created["status"] == "active" and created["quota_documents"] == 100
    got = any_api.ok(any_api.client.get(f"/api/v1/tenants/{created['id']}", headers=ADMIN))
    assert got == created
    patched = any_api.ok(
        any_api.client.patch(
            f"/api/v1/tenants/{created['id']}",
            json={"name": "Acme Corp", "quota_bytes": 10**9},
            headers=ADMIN,
        )
    )
    assert patched["name"] == "Acme Corp" and patched["quota_bytes"] == 10**9
    assert patched["quota_documents"] == 100


def test_list_paginates(api: Api) -> None:
    slugs = [f"team-{i}" for i in range(5)]
    for slug in slugs:
        api.create_tenant(slug)
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api.ok(api.client.get("/api/v1/tenants", params=params, headers=ADMIN))
        seen += [t["slug"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == slugs


def test_duplicate_slug_is_409(api: Api) -> None:
    api.create_tenant("acme")
    response = api.client.post("/api/v1/tenants", json={"slug": "acme", "name": "x"}, headers=ADMIN)
    assert response.status_code == 409 and response.json()["code"] == "slug_taken"


@pytest.mark.parametrize(
    "body",
    [
        {"slug": "Acme", "name": "x"},
        {"slug": "a", "name": "x"},
        {"slug": "-acme", "name": "x"},
        {"slug": "acme_corp", "name": "x"},
        {"slug": "ä" * 10, "name": "x"},
        {"slug": "a" * 64, "name": "x"},
        {"slug": "acme", "name": ""},
        {"slug": "acme", "name": "   "},
        {"slug": "acme", "name": "n" * 201},
        {"slug": "acme", "name": "x", "quota_documents": -1},
        {"slug": "acme", "name": "x", "colour": "red"},
        {"slug": "acme"},
        [],
        "acme",
    ],
)
def test_bad_tenant_input_is_422(api: Api, body: object) -> None:
    response = api.client.post("/api/v1/tenants", json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"]


def test_unicode_names_are_kept(api: Api) -> None:
    created = api.create_tenant("uni", name="Équipe 日本 🚀")
    assert created["name"] == "Équipe 日本 🚀"


def test_unknown_and_malformed_ids(api: Api) -> None:
    missing = api.client.get("/api/v1/tenants/00000000-0000-0000-0000-000000000000", headers=ADMIN)
    assert missing.status_code == 404
    malformed = api.client.get("/api/v1/tenants/not-a-uuid", headers=ADMIN)
    assert malformed.status_code == 422


def test_wrong_content_type_is_a_clear_error(api: Api) -> None:
    response = api.client.post(
        "/api/v1/tenants",
        content=b"slug=acme&name=x",
        headers=ADMIN | {"content-type": "application/x-www-form-urlencoded"},
    )
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"] == "application/problem+json"


def test_suspend_and_reactivate(api: Api, acme: TenantFixture) -> None:
    path = f"/api/v1/tenants/{acme.id}"
    api.ok(api.client.patch(path, json={"status": "suspended"}, headers=ADMIN))
    blocked = api.client.get("/api/v1/auth/me", headers=bearer(acme.owner_key))
    assert blocked.status_code == 403 and blocked.json()["code"] == "tenant_suspended"
    api.ok(api.client.patch(path, json={"status": "active"}, headers=ADMIN))
    assert api.client.get("/api/v1/auth/me", headers=bearer(acme.owner_key)).status_code == 200
    bad = api.client.patch(path, json={"status": "deleting"}, headers=ADMIN)
    assert bad.status_code == 422


def test_deleting_twice_is_409_and_updates_are_refused(api: Api, acme: TenantFixture) -> None:
    path = f"/api/v1/tenants/{acme.id}"
    first = api.client.delete(path, headers=ADMIN)
    assert first.status_code == 202
    # The tenant is locked out at once, before the job has run.
    assert api.client.get("/api/v1/auth/me", headers=bearer(acme.owner_key)).status_code == 401
    second = api.client.delete(path, headers=ADMIN)
    assert second.status_code in (404, 409)
