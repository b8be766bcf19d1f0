"""GET /v1/models and /v1/models/{model} through the official SDK."""

from __future__ import annotations

import openai
import pytest

from tests.documents_support import create_collection
from tests.openai_compat.conftest import Sdk
from tests.platform import ADMIN_KEY, Api, TenantFixture, bearer


def _embedding_model(api: Api) -> str:
    return str(api.client.app_state["embedder"].model_name)


def test_models_are_the_tenants_collections_plus_rag_and_the_embedder(
    api: Api, acme: TenantFixture, globex: TenantFixture, sdk: Sdk
) -> None:
    create_collection(api.client, acme.owner_key, "handbook")
    create_collection(api.client, acme.owner_key, "Release notes")
    create_collection(api.client, globex.owner_key, "globex-plans")
    embedder = _embedding_model(api)

    models = sdk(acme.owner_key).models.list()
    ids = [m.id for m in models.data]
    assert ids == ["rag", "rag/Release notes", "rag/handbook", embedder]
    assert all(m.object == "model" and m.created > 0 for m in models.data)
    assert {m.owned_by for m in models.data} == {"acme", "ragplatform"}

    globex_ids = [m.id for m in sdk(globex.owner_key).models.list().data]
    assert globex_ids == ["rag", "rag/globex-plans", embedder]

    raw = api.client.get("/v1/models", headers=bearer(acme.owner_key)).json()
    assert raw["object"] == "list"
    assert set(raw["data"][0]) == {"id", "object", "created", "owned_by"}


def test_retrieve_a_model(api: Api, acme: TenantFixture, sdk: Sdk) -> None:
    create_collection(api.client, acme.owner_key, "handbook")
    client = sdk(acme.owner_key)
    # The SDK percent-encodes the slash (rag%2Fhandbook); both spellings reach the model.
    assert client.models.retrieve("rag/handbook").id == "rag/handbook"
    assert api.client.get("/v1/models/rag/handbook", headers=bearer(acme.owner_key)).json() == {
        "id": "rag/handbook",
        "object": "model",
        "created": client.models.retrieve("rag/handbook").created,
        "owned_by": "acme",
    }
    assert client.models.retrieve("rag").id == "rag"
    embedder = _embedding_model(api)
    assert client.models.retrieve(embedder).owned_by == "ragplatform"


@pytest.mark.parametrize("model", ["rag/missing", "gpt-4o", "rag/", "RAG", "rag/handbook/x"])
def test_unknown_models_are_404_model_not_found(
    api: Api, acme: TenantFixture, sdk: Sdk, model: str
) -> None:
    create_collection(api.client, acme.owner_key, "handbook")
    with pytest.raises(openai.NotFoundError) as caught:
        sdk(acme.owner_key).models.retrieve(model)
    assert caught.value.status_code == 404
    assert caught.value.code == "model_not_found"
    assert caught.value.type == "not_found_error"
    assert caught.value.param == "model"
    assert model in caught.value.message


def test_another_tenants_collection_is_not_a_model(
    api: Api, acme: TenantFixture, globex: TenantFixture, sdk: Sdk
) -> None:
    create_collection(api.client, globex.owner_key, "globex-plans")
    with pytest.raises(openai.NotFoundError) as caught:
        sdk(acme.owner_key).models.retrieve("rag/globex-plans")
    assert caught.value.code == "model_not_found"


def test_a_scoped_key_sees_only_its_collections(api: Api, acme: TenantFixture, sdk: Sdk) -> None:
    mine = create_collection(api.client, acme.owner_key, "handbook")
    create_collection(api.client, acme.owner_key, "payroll")
    scoped = api.create_key(acme.owner_key, role="viewer", collection_ids=[mine])["key"]
    client = sdk(scoped)
    assert [m.id for m in client.models.list().data][:2] == ["rag", "rag/handbook"]
    assert "rag/payroll" not in {m.id for m in client.models.list().data}
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("rag/payroll")


def test_every_tenant_role_may_list_and_platform_keys_may_not(
    api: Api, acme: TenantFixture, sdk: Sdk
) -> None:
    viewer = api.create_key(acme.owner_key, role="viewer")["key"]
    assert sdk(viewer).models.list().data[0].id == "rag"
    with pytest.raises(openai.PermissionDeniedError) as caught:
        sdk(ADMIN_KEY).models.list()
    assert caught.value.status_code == 403
    assert caught.value.type == "permission_error"
    assert caught.value.code == "tenant_credential_required"


def test_a_bad_key_is_401_invalid_api_key(api: Api, sdk: Sdk) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        sdk("rag_not_a_real_key_0123456789").models.list()
    assert caught.value.status_code == 401
    assert caught.value.type == "authentication_error"
    assert caught.value.code == "invalid_api_key"
    assert caught.value.response.headers["www-authenticate"] == "Bearer"
    assert caught.value.request_id == caught.value.response.headers["x-request-id"]
