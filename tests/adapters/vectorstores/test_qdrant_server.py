"""Qdrant server specifics, exercised through qdrant-client's local mode and a dead URL."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from qdrant_client import AsyncQdrantClient
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ragplatform.adapters.vectorstores.qdrant_server import QdrantServerStore, _is_io, is_local
from ragplatform.errors import StartupError, Unavailable
from tests.adapters.vectorstores.test_qdrant_edge import _BrokenEncoder
from tests.contract.vector_data import DIM, chunk

T = "tenant-a"
# The client probes the server version in a background thread and warns when it cannot.
pytestmark = pytest.mark.filterwarnings("ignore:Failed to obtain server version")


def _response(status: int | None) -> UnexpectedResponse:
    return UnexpectedResponse(status, "x", b"{}", httpx.Headers())


async def test_local_mode_is_detected(tmp_path: Path) -> None:
    memory = AsyncQdrantClient(location=":memory:")
    on_disk = AsyncQdrantClient(path=str(tmp_path / "q"))
    remote = AsyncQdrantClient(url="http://127.0.0.1:1", check_compatibility=False)
    assert is_local(memory)
    assert is_local(on_disk)
    assert not is_local(remote)
    for client in (memory, on_disk, remote):
        await client.close()


async def test_unreachable_server_is_unavailable() -> None:
    with pytest.raises(Unavailable) as caught:
        await QdrantServerStore.connect(
            "http://127.0.0.1:1",
            api_key=None,
            timeout_s=2,
            collection_prefix="rp",
            model="all-MiniLM-L6-v2",
            dimension=DIM,
        )
    assert caught.value.code == "vector_store_unavailable"


def test_error_classification() -> None:
    assert _is_io(_response(500))
    assert _is_io(_response(503))
    assert _is_io(_response(429))
    assert _is_io(_response(None))
    assert not _is_io(_response(400))
    assert not _is_io(_response(404))
    assert _is_io(ResponseHandlingException(httpx.ConnectError("refused")))
    assert _is_io(httpx.ReadTimeout("slow"))
    assert _is_io(OSError("reset"))
    assert not _is_io(ValueError("bad vector"))


async def test_persistent_local_collection_reopens(tmp_path: Path) -> None:
    client = AsyncQdrantClient(path=str(tmp_path / "q"))
    store = await QdrantServerStore.open(client, collection_name="rp_m_384", dimension=DIM)
    await store.upsert(tenant_id=T, chunks=[chunk(T, index=i) for i in range(3)])
    await store.close()
    client = AsyncQdrantClient(path=str(tmp_path / "q"))
    store = await QdrantServerStore.open(client, collection_name="rp_m_384", dimension=DIM)
    try:
        assert await store.count(tenant_id=T) == 3
        await store.ping()
    finally:
        await store.close()


async def test_existing_collection_of_another_dimension_is_refused() -> None:
    client = AsyncQdrantClient(location=":memory:")
    await QdrantServerStore.open(client, collection_name="c", dimension=8)
    with pytest.raises(StartupError, match="8-d dense vectors, not 16-d"):
        await QdrantServerStore.open(client, collection_name="c", dimension=16)
    await client.close()


async def test_payload_indexes_are_requested_from_a_server() -> None:
    client = AsyncQdrantClient(location=":memory:")
    store = QdrantServerStore(client, collection_name="c", dimension=DIM)
    store.local = False  # what a server gets; local mode only warns that indexes do nothing
    with pytest.warns(UserWarning, match="Payload indexes have no effect"):
        await store.ensure_collection()
    await store.close()


async def test_mismatched_sparse_vector_never_reaches_the_engine() -> None:
    client = AsyncQdrantClient(location=":memory:")
    store = await QdrantServerStore.open(client, collection_name="c", dimension=DIM)
    store._encoder = _BrokenEncoder()
    with pytest.raises(ValueError, match="3 indices but 1 values"):
        await store.upsert(tenant_id=T, chunks=[chunk(T)])
    assert await store.count(tenant_id=T) == 0
    await store.close()


async def test_large_upserts_are_split_into_batches() -> None:
    client = AsyncQdrantClient(location=":memory:")
    store = await QdrantServerStore.open(client, collection_name="c", dimension=DIM)
    store.batch_size = 100
    await store.upsert(tenant_id=T, chunks=[chunk(T, index=i) for i in range(250)])
    assert await store.count(tenant_id=T) == 250
    await store.close()


async def test_programming_errors_surface_unchanged() -> None:
    client = AsyncQdrantClient(location=":memory:")
    store = QdrantServerStore(client, collection_name="never-created", dimension=DIM)
    with pytest.raises(ValueError, match="never-created"):
        await store.count(tenant_id=T)
    await store.close()


async def test_export_refuses_a_batch_size_below_one() -> None:
    store = await QdrantServerStore.open(
        AsyncQdrantClient(location=":memory:"), collection_name="t", dimension=DIM
    )
    try:
        with pytest.raises(ValueError, match="batch_size"):
            await anext(store.export_chunks(tenant_id=T, batch_size=0))
    finally:
        await store.close()
