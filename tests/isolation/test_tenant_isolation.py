"""Cross-tenant probes: globex's credentials against acme's objects, on every route.

Routes are read from the app's route table; a path parameter this suite does not know fails
the build, so every new tenant-scoped route must be added here with a foreign object.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from ragplatform.db.engine import Database
from ragplatform.jobs import service as jobs
from ragplatform.main import create_app
from ragplatform.settings import Settings
from ragplatform.tenancy.roles import Role
from tests.api.test_authorization_matrix import api_routes
from tests.conftest import platform_settings
from tests.documents_support import create_collection, upload, wait_for
from tests.platform import STRONG_PASSWORD, Api, TenantFixture, bearer, make_tenant

# Platform-admin-only parameters: tenants are managed across tenants by design.
PLATFORM_PARAMS = {"tenant_id"}


@dataclass
class World:
    api: Api
    acme: TenantFixture
    globex: TenantFixture
    acme_objects: dict[str, str] = field(default_factory=dict)
    acme_secrets: list[str] = field(default_factory=list)
    globex_creds: dict[str, str] = field(default_factory=dict)


def _acme_job(settings: Settings, tenant_id: str) -> str:
    async def run() -> str:
        import uuid

        db = Database(settings.database_url, settings.database)
        try:
            async with db.session() as session:
                job = jobs.enqueue(
                    session, kind="isolation.probe", tenant_id=uuid.UUID(tenant_id), payload={}
                )
                job.status = "succeeded"
                await session.commit()
                return str(job.id)
        finally:
            await db.dispose()

    return asyncio.run(run())


@pytest.fixture
def world(backend_settings: Settings) -> Iterator[World]:
    """acme's objects and globex's credentials, on SQLite and on PostgreSQL."""
    settings = platform_settings(backend_settings)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield _build_world(Api(client), settings)


def _build_world(api: Api, settings: Settings) -> World:
    acme, globex = make_tenant(api, "acme"), make_tenant(api, "globex")
    user = api.create_user(acme.owner_key, "secret-person@acme.example", role="editor")
    key = api.create_key(acme.owner_key, role="viewer")
    tokens = api.login("acme", "secret-person@acme.example", STRONG_PASSWORD)
    world = World(api=api, acme=acme, globex=globex)
    collection = create_collection(api.client, acme.owner_key, "acme-secret-collection")
    uploaded = upload(api.client, acme.owner_key, collection, {"plan.txt": ACME_TEXT})
    document = uploaded.json()["documents"][0]
    wait_for(api.client, acme.owner_key, document["id"])
    # globex owns a collection with the same name and text: identical content must not bridge.
    globex_collection = create_collection(api.client, globex.owner_key, "acme-secret-collection")
    upload(api.client, globex.owner_key, globex_collection, {"plan.txt": ACME_TEXT})
    # An OpenAI-compatible model id naming a collection only acme has (globex shares the other).
    create_collection(api.client, acme.owner_key, ACME_ONLY_COLLECTION)
    world.acme_objects = {
        "user_id": user["id"],
        "key_id": key["id"],
        "job_id": document["job_id"],
        "collection_id": collection,
        "document_id": document["id"],
        "model": f"rag/{ACME_ONLY_COLLECTION}",
    }
    world.acme_secrets = [
        user["id"],
        key["id"],
        key["prefix"],
        "secret-person@acme.example",
        world.acme_objects["job_id"],
        tokens["access_token"],
        collection,
        document["id"],
    ]
    assert _acme_job(settings, acme.id)
    world.globex_creds = {"owner": globex.owner_key}
    for role in (Role.ADMIN, Role.VIEWER):
        world.globex_creds[role.value] = api.create_key(globex.owner_key, role=role.value)["key"]
    login = api.create_user(globex.owner_key, "g@globex.example", role="admin")
    assert login["id"]
    world.globex_creds["jwt"] = api.login("globex", "g@globex.example")["access_token"]
    return world


ACME_TEXT = b"Acme launches project Nightjar in March."
ACME_ONLY_COLLECTION = "acme-roadmap"


def _bodies(method: str, path: str) -> list[dict[str, object] | None]:
    if method == "PATCH" and "/users/" in path:
        return [{"role": "viewer"}, {}]
    if method == "PATCH" and "/documents/" in path:
        return [{"metadata": {"x": 1}}]
    if method == "PATCH":
        return [{"name": "stolen"}, {}]
    if method == "POST" and path.endswith("/documents"):
        return [{"title": "t", "text": "injected"}]
    return [None]


def test_foreign_ids_are_404_on_every_route(world: World, migrated: Settings) -> None:
    probed = 0
    for method, path, rule in api_routes(migrated):
        params = re.findall(r"\{([^}]+)\}", path)
        if not params or rule is None or rule.rule == "platform":
            continue
        unknown = set(params) - world.acme_objects.keys() - PLATFORM_PARAMS
        assert not unknown, f"{method} {path}: add a foreign object for {unknown} to this suite"
        concrete = path
        for name in params:
            concrete = concrete.replace("{" + name + "}", world.acme_objects[name])
        for who, token in world.globex_creds.items():
            for body in _bodies(method, path):
                response = world.api.client.request(
                    method, concrete, json=body, headers=bearer(token)
                )
                allowed_codes = {404} if rule.allows(_role_of(who)) else {403}
                assert response.status_code in allowed_codes, (method, path, who, response.text)
                if path.startswith("/v1/") and response.status_code == 404:
                    assert response.json()["error"]["code"] == "model_not_found", response.text
                for secret in world.acme_secrets:
                    assert secret not in response.text
                probed += 1
    assert probed >= 10


def _role_of(who: str) -> Role:
    return {"owner": Role.OWNER, "jwt": Role.ADMIN}.get(who) or Role(who)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/users",
        "/api/v1/api-keys",
        "/api/v1/audit-events",
        "/api/v1/collections",
        "/api/v1/documents",
    ],
)
def test_lists_never_include_foreign_objects(world: World, path: str) -> None:
    seen = 0
    for who in ("owner", "admin", "jwt"):
        cursor: str | None = None
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            response = world.api.client.get(
                path, params=params, headers=bearer(world.globex_creds[who])
            )
            assert response.status_code == 200, response.text
            body = response.json()
            text = json.dumps(body)
            for secret in [world.acme.id, *world.acme_secrets]:
                assert secret not in text, (path, who)
            seen += len(body["items"])
            cursor = body["next_cursor"]
            if not cursor:
                break
    assert seen > 0 or path == "/api/v1/users", "globex's own objects are listed"


def test_a_tenant_cannot_reach_into_another_through_parameters(world: World) -> None:
    client, token = world.api.client, world.globex.owner_key
    create = client.post(
        "/api/v1/api-keys",
        json={"name": "sneaky", "role": "viewer", "tenant_id": world.acme.id},
        headers=bearer(token),
    )
    assert create.status_code == 422
    listing = client.get(
        "/api/v1/api-keys", params={"tenant_id": world.acme.id}, headers=bearer(token)
    )
    assert listing.status_code == 422
    for response in (create, listing):
        assert world.acme.slug not in response.text


def test_login_is_bound_to_the_tenant(world: World) -> None:
    # acme's user cannot log in through globex, with the same generic error as a bad password.
    wrong_tenant = world.api.login("globex", "secret-person@acme.example", status=401)
    bad_password = world.api.login("acme", "secret-person@acme.example", "Wrong-password-99", 401)
    assert wrong_tenant["code"] == bad_password["code"] == "invalid_login"
    assert wrong_tenant["detail"] == bad_password["detail"]


def test_platform_routes_are_closed_to_tenants(world: World) -> None:
    for method, path in (
        ("GET", "/api/v1/tenants"),
        ("GET", f"/api/v1/tenants/{world.acme.id}"),
        ("PATCH", f"/api/v1/tenants/{world.acme.id}"),
        ("DELETE", f"/api/v1/tenants/{world.acme.id}"),
        ("GET", "/api/v1/admin/backup"),
        ("GET", f"/api/v1/admin/tenants/{world.acme.slug}/export"),
        ("POST", "/api/v1/admin/tenants/import"),
    ):
        response = world.api.client.request(
            method,
            path,
            json={} if method == "PATCH" else None,
            headers=bearer(world.globex.owner_key),
        )
        assert response.status_code == 403
        assert "acme" not in response.text.lower()


def test_foreign_collection_ids_in_queries_are_404(world: World) -> None:
    response = world.api.client.get(
        "/api/v1/documents",
        params={"collection_id": world.acme_objects["collection_id"]},
        headers=bearer(world.globex.owner_key),
    )
    assert response.status_code == 404
    assert world.acme_objects["document_id"] not in response.text


def test_vector_store_keeps_identical_content_apart(world: World) -> None:
    import asyncio

    vectors = world.api.client.app_state["vectors"]  # type: ignore[attr-defined]
    acme_count = asyncio.run(vectors.count(tenant_id=world.acme.id))
    assert acme_count == 1
    hits = asyncio.run(
        vectors.search(
            tenant_id=world.globex.id,
            collection_ids=[world.acme_objects["collection_id"]],
            query_text="Nightjar",
            query_dense=None,
            mode="keyword",
            limit=10,
        )
    )
    assert hits == [], "another tenant's collection id reaches nothing"


def test_search_never_crosses_tenants(world: World) -> None:
    client = world.api.client
    own = client.post(
        "/api/v1/search",
        json={"query": "Nightjar", "mode": "keyword"},
        headers=bearer(world.globex.owner_key),
    )
    assert own.status_code == 200
    hits = own.json()["hits"]
    assert all(h["collection_id"] != world.acme_objects["collection_id"] for h in hits)
    assert all(h["document_id"] != world.acme_objects["document_id"] for h in hits)
    probe = client.post(
        "/api/v1/search",
        json={"query": "Nightjar", "collection_ids": [world.acme_objects["collection_id"]]},
        headers=bearer(world.globex.owner_key),
    )
    assert probe.status_code == 404


def test_openai_models_never_cross_tenants(world: World) -> None:
    client, token = world.api.client, world.globex.owner_key
    listed = client.get("/v1/models", headers=bearer(token))
    assert listed.status_code == 200
    ids = {m["id"] for m in listed.json()["data"]}
    assert world.acme_objects["model"] not in ids
    assert "rag/acme-secret-collection" in ids, "globex's own collection of the same name"
    question = {"role": "user", "content": "When does project Nightjar launch?"}
    probe = client.post(
        "/v1/chat/completions",
        json={"model": world.acme_objects["model"], "messages": [question]},
        headers=bearer(token),
    )
    assert probe.status_code == 404
    assert probe.json()["error"]["code"] == "model_not_found"
    for model in ("rag", "rag/acme-secret-collection"):
        own = client.post(
            "/v1/chat/completions",
            json={"model": model, "messages": [question]},
            headers=bearer(token),
        )
        assert own.status_code == 200, own.text
        for secret in world.acme_secrets:
            assert secret not in own.text
