from __future__ import annotations

import pytest

from tests.documents_support import create_collection
from tests.platform import Api, TenantFixture, bearer


def test_crud_and_embedding_recorded(api: Api, acme: TenantFixture) -> None:
    owner = bearer(acme.owner_key)
    created = api.ok(
        api.client.post(
            "/api/v1/collections", json={"name": "handbook", "description": "HR"}, headers=owner
        ),
        201,
    )
    assert (created["embedding_model"], created["embedding_dim"]) == ("all-MiniLM-L6-v2", 384)
    path = f"/api/v1/collections/{created['id']}"
    assert api.ok(api.client.get(path, headers=owner))["name"] == "handbook"
    renamed = api.ok(api.client.patch(path, json={"name": "hr-handbook"}, headers=owner))
    assert renamed["name"] == "hr-handbook"
    listed = api.ok(api.client.get("/api/v1/collections", headers=owner))
    assert [c["id"] for c in listed["items"]] == [created["id"]]
    assert api.client.delete(path, headers=owner).status_code == 204
    assert api.client.get(path, headers=owner).status_code == 404


def test_name_unique_per_tenant(api: Api, acme: TenantFixture, globex: TenantFixture) -> None:
    create_collection(api.client, acme.owner_key, "shared-name")
    clash = api.client.post(
        "/api/v1/collections", json={"name": "shared-name"}, headers=bearer(acme.owner_key)
    )
    assert clash.status_code == 409 and clash.json()["code"] == "name_taken"
    create_collection(api.client, globex.owner_key, "shared-name")
    other = create_collection(api.client, acme.owner_key, "other")
    rename = api.client.patch(
        f"/api/v1/collections/{other}", json={"name": "shared-name"}, headers=bearer(acme.owner_key)
    )
    assert rename.status_code == 409


@pytest.mark.parametrize(
    "body",
    [{"name": ""}, {"name": "x" * 201}, {"name": "ok", "description": "d" * 2001}, {"nom": "x"}],
)
def test_bad_collection_input(api: Api, acme: TenantFixture, body: dict) -> None:  # type: ignore[type-arg]
    response = api.client.post("/api/v1/collections", json=body, headers=bearer(acme.owner_key))
    assert response.status_code == 422


def test_roles_and_scopes(api: Api, acme: TenantFixture) -> None:
    first = create_collection(api.client, acme.owner_key, "first")
    second = create_collection(api.client, acme.owner_key, "second")
    viewer = api.create_key(acme.owner_key, role="viewer")["key"]
    denied = api.client.post("/api/v1/collections", json={"name": "x"}, headers=bearer(viewer))
    assert denied.status_code == 403
    assert api.client.get(f"/api/v1/collections/{first}", headers=bearer(viewer)).status_code == 200
    scoped = api.create_key(acme.owner_key, role="editor", collection_ids=[first])["key"]
    listed = api.ok(api.client.get("/api/v1/collections", headers=bearer(scoped)))
    assert [c["id"] for c in listed["items"]] == [first]
    hidden = api.client.get(f"/api/v1/collections/{second}", headers=bearer(scoped))
    assert hidden.status_code == 404
    create = api.client.post("/api/v1/collections", json={"name": "new"}, headers=bearer(scoped))
    assert create.status_code == 403
