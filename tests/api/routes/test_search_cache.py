"""Search results are cached per tenant, collections at their versions and request."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from ragplatform.main import create_app
from ragplatform.settings import Settings
from tests.conftest import platform_settings
from tests.documents_support import create_collection, upload, wait_for
from tests.platform import Api, TenantFixture, bearer, make_tenant
from tests.support import require_service

REDIS_URL = "redis://127.0.0.1:6379/15"


def _search(api: Api, token: str, **body: Any) -> dict[str, Any]:
    response = api.client.post("/api/v1/search", json=body, headers=bearer(token))
    assert response.status_code == 200, response.text
    return dict(response.json())


def _indexed(api: Api, token: str) -> str:
    collection = create_collection(api.client, token, "handbook")
    docs = upload(api.client, token, collection, {"a.txt": b"Otters hold hands while sleeping."})
    wait_for(api.client, token, docs.json()["documents"][0]["id"])
    return collection


def test_repeat_is_cached_and_document_changes_invalidate(api: Api, acme: TenantFixture) -> None:
    token = acme.owner_key
    collection = _indexed(api, token)
    first = _search(api, token, query="otters sleeping")
    assert first["cached"] is False and first["hits"]
    second = _search(api, token, query="  otters   sleeping ")
    assert second["cached"] is True and second["hits"] == first["hits"]
    assert _search(api, token, query="otters sleeping", top_k=3)["cached"] is False
    assert _search(api, token, query="otters sleeping", mode="dense")["cached"] is False
    new = upload(api.client, token, collection, {"b.txt": b"Sea otters sleep floating."})
    wait_for(api.client, token, new.json()["documents"][0]["id"])
    after_upload = _search(api, token, query="otters sleeping")
    assert after_upload["cached"] is False and len(after_upload["hits"]) == 2
    doc_id = new.json()["documents"][0]["id"]
    assert api.client.delete(f"/api/v1/documents/{doc_id}", headers=bearer(token)).status_code in (
        202,
        204,
    )
    after_delete = _search(api, token, query="otters sleeping")
    assert after_delete["cached"] is False and len(after_delete["hits"]) == 1
    metrics = api.client.get("/metrics").text
    assert 'ragplatform_cache_lookups_total{cache="search",outcome="hit"} 1.0' in metrics
    assert 'ragplatform_cache_lookups_total{cache="query_embedding",outcome="hit"}' in metrics


def test_metadata_changes_invalidate(api: Api, acme: TenantFixture) -> None:
    token = acme.owner_key
    collection = _indexed(api, token)
    hit = _search(api, token, query="otters")["hits"][0]
    assert hit["metadata"] == {}
    patched = api.client.patch(
        f"/api/v1/documents/{hit['document_id']}",
        json={"metadata": {"team": "zoo"}},
        headers=bearer(token),
    )
    assert patched.status_code == 200, patched.text
    again = _search(api, token, query="otters", collection_ids=[collection])
    assert again["cached"] is False and again["hits"][0]["metadata"] == {"team": "zoo"}


def test_tenants_never_share_entries(api: Api, acme: TenantFixture, globex: TenantFixture) -> None:
    _indexed(api, acme.owner_key)
    _indexed(api, globex.owner_key)
    mine = _search(api, acme.owner_key, query="otters")
    theirs = _search(api, globex.owner_key, query="otters")
    assert theirs["cached"] is False
    assert {h["document_id"] for h in mine["hits"]}.isdisjoint(
        {h["document_id"] for h in theirs["hits"]}
    )


def test_redis_cache_outlives_a_restart(migrated: Settings) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    settings = platform_settings(migrated, redis={"url": REDIS_URL})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        api = Api(client)
        tenant = make_tenant(api, "acme")
        _indexed(api, tenant.owner_key)
        assert _search(api, tenant.owner_key, query="otters")["cached"] is False
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        again = _search(Api(client), tenant.owner_key, query="otters")
        assert again["cached"] is True and again["hits"]
        ready = client.get("/readyz").json()
        assert ready["checks"]["redis"]["status"] == "ok"
    other = settings.model_copy(
        update={"vector": settings.vector.model_copy(update={"fusion": "rrf"})}
    )
    with TestClient(create_app(other), raise_server_exceptions=False) as client:
        # another fusion ranks differently: entries of the old configuration never answer
        assert _search(Api(client), tenant.owner_key, query="otters")["cached"] is False


def test_cache_can_be_disabled(migrated: Settings) -> None:
    settings = platform_settings(migrated, cache={"enabled": False})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        api = Api(client)
        tenant = make_tenant(api, "acme")
        _indexed(api, tenant.owner_key)
        _search(api, tenant.owner_key, query="otters")
        assert _search(api, tenant.owner_key, query="otters")["cached"] is False
