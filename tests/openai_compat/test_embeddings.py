"""POST /v1/embeddings through the official SDK: floats, base64, limits and errors."""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

import openai
import pytest

from ragplatform.ports import Embedder
from tests.openai_compat.conftest import Sdk
from tests.platform import ADMIN_KEY, Api, TenantFixture

TEXTS = ["Employees may work from home.", "The printer jams on glossy paper.", "Badges."]


@pytest.fixture
def embedder(api: Api) -> Embedder:
    model: Embedder = api.client.app_state["embedder"]
    return model


def reference(api: Api, embedder: Embedder, texts: list[str]) -> list[list[float]]:
    """The platform embedder's own vectors, computed on the app's event loop."""
    portal = api.client.portal
    assert portal is not None, "the client runs the app's lifespan"
    vectors: list[list[float]] = portal.call(embedder.embed_documents, texts)
    return vectors


def test_float_vectors_are_the_embedders(
    api: Api, acme: TenantFixture, sdk: Sdk, embedder: Embedder
) -> None:
    result = sdk(acme.owner_key).embeddings.create(
        model=embedder.model_name, input=TEXTS, encoding_format="float"
    )
    assert result.object == "list" and result.model == embedder.model_name
    assert [d.index for d in result.data] == [0, 1, 2]
    assert all(d.object == "embedding" for d in result.data)
    expected = reference(api, embedder, TEXTS)
    assert [d.embedding for d in result.data] == expected
    for data in result.data:
        assert len(data.embedding) == embedder.dimension
        assert math.isclose(math.fsum(x * x for x in data.embedding), 1.0, rel_tol=1e-5)
    tokens = sum(embedder.count_tokens(t) for t in TEXTS)
    assert result.usage.prompt_tokens == result.usage.total_tokens == tokens


def test_the_sdks_default_base64_decodes_to_the_same_vectors(
    api: Api, acme: TenantFixture, sdk: Sdk, embedder: Embedder
) -> None:
    # Without encoding_format the SDK asks for base64 and decodes it itself.
    result = sdk(acme.owner_key).embeddings.create(
        model=embedder.model_name, input=TEXTS[0], dimensions=embedder.dimension
    )
    (data,) = result.data
    (expected,) = reference(api, embedder, TEXTS[:1])
    assert len(data.embedding) == embedder.dimension
    assert all(
        math.isclose(a, b, abs_tol=1e-7) for a, b in zip(data.embedding, expected, strict=True)
    )


def test_explicit_base64_is_little_endian_float32(
    api: Api, acme: TenantFixture, sdk: Sdk, embedder: Embedder
) -> None:
    result = sdk(acme.owner_key).embeddings.create(
        model=embedder.model_name, input=TEXTS, encoding_format="base64"
    )
    expected = reference(api, embedder, TEXTS)
    for data, vector in zip(result.data, expected, strict=True):
        assert isinstance(data.embedding, str)
        raw = base64.b64decode(data.embedding)
        assert len(raw) == 4 * embedder.dimension
        decoded = struct.unpack(f"<{embedder.dimension}f", raw)
        assert decoded == struct.unpack(
            f"<{len(vector)}f", struct.pack(f"<{len(vector)}f", *vector)
        )


@pytest.mark.parametrize(
    ("changes", "param", "code"),
    [
        ({"input": [[1, 2, 3]]}, "input", "validation_error"),
        ({"input": [1, 2, 3]}, "input", "validation_error"),
        ({"input": ""}, "input", "validation_error"),
        ({"input": ["ok", "  "]}, "input", "validation_error"),
        ({"input": []}, "input", "validation_error"),
        ({"input": ["x"] * 2049}, "input", "validation_error"),
        ({"input": "word " * 2000}, "input", "context_length_exceeded"),
        ({"encoding_format": "int8"}, "encoding_format", "validation_error"),
        ({"dimensions": 64}, "dimensions", "unsupported_dimensions"),
    ],
)
def test_invalid_inputs_are_400(
    api: Api,
    acme: TenantFixture,
    sdk: Sdk,
    embedder: Embedder,
    changes: dict[str, Any],
    param: str,
    code: str,
) -> None:
    body = {"model": embedder.model_name, "input": "hello"} | changes
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(acme.owner_key).post("/embeddings", body=body, cast_to=object)
    error = caught.value
    assert error.status_code == 400 and error.type == "invalid_request_error"
    assert (error.param, error.code) == (param, code), error.message


def test_token_arrays_get_a_clear_message(
    api: Api, acme: TenantFixture, sdk: Sdk, embedder: Embedder
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(acme.owner_key).embeddings.create(model=embedder.model_name, input=[[101, 102]])
    assert "token arrays are not supported" in caught.value.message


def test_other_models_and_credentials(
    api: Api, acme: TenantFixture, sdk: Sdk, embedder: Embedder
) -> None:
    for model in ("text-embedding-3-small", "rag"):
        with pytest.raises(openai.NotFoundError) as caught:
            sdk(acme.owner_key).embeddings.create(model=model, input="hello")
        assert caught.value.code == "model_not_found"
    with pytest.raises(openai.AuthenticationError):
        sdk("rag_wrong").embeddings.create(model=embedder.model_name, input="hello")
    with pytest.raises(openai.PermissionDeniedError):
        sdk(ADMIN_KEY).embeddings.create(model=embedder.model_name, input="hello")
    viewer = api.create_key(acme.owner_key, role="viewer")["key"]
    assert sdk(viewer).embeddings.create(model=embedder.model_name, input="hello").data
