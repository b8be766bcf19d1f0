"""Milvus specifics on a real Milvus Lite: persistence, the single-opener lock, the server path
(through Milvus Lite's own gRPC endpoint), failures, batching and the factory."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from milvus_lite.server_manager import server_manager_instance
from pymilvus import DataType, MilvusClient, MilvusException

from ragplatform.adapters.vectorstores.factory import build_vector_store
from ragplatform.adapters.vectorstores.milvus import MilvusStore
from ragplatform.adapters.vectorstores.milvus_engine import is_io
from ragplatform.adapters.vectorstores.milvus_filters import Expr
from ragplatform.errors import StartupError, Unavailable
from tests.contract.vector_data import DIM, chunk, fake_vector
from tests.support import make_settings

T = "tenant-a"


def _open(path: Path, *, dimension: int = DIM, name: str = "rp_minilm_384") -> MilvusStore:
    return MilvusStore.open_lite(path, collection_name=name, dimension=dimension)


@pytest.fixture
async def lite(tmp_path: Path) -> AsyncIterator[MilvusStore]:
    """A fresh store in tmp_path/milvus/rp.db."""
    store = _open(tmp_path / "milvus" / "rp.db")
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def lite_endpoint(tmp_path: Path) -> Iterator[str]:
    """Milvus Lite's in-process gRPC server, reached like a Milvus server (http://...)."""
    path = tmp_path / "served.db"
    uri = server_manager_instance.start_and_get_uri(str(path))
    assert uri is not None
    try:
        yield uri
    finally:
        server_manager_instance.release_server(str(path))


def test_path_for_follows_the_layout(tmp_path: Path) -> None:
    assert MilvusStore.path_for(tmp_path, collection_prefix="ragplatform") == (
        tmp_path / "milvus" / "ragplatform.db"
    )


async def test_reopen_keeps_points(tmp_path: Path) -> None:
    path = tmp_path / "milvus" / "rp.db"
    store = _open(path)
    await store.upsert(tenant_id=T, chunks=[chunk(T, index=i) for i in range(5)])
    assert store.collection.templating is False  # Milvus Lite: literals, no filter_params
    await store.close()
    await store.close()  # closing twice is harmless
    reopened = _open(path)
    try:
        assert await reopened.count(tenant_id=T) == 5
        hits = await reopened.search(
            tenant_id=T,
            collection_ids=["c1"],
            query_text="chunk 3",
            query_dense=fake_vector("c1/d1/1/3"),
            mode="hybrid",
            limit=1,
        )
        assert hits[0].payload["chunk_index"] == 3
    finally:
        await reopened.close()


async def test_second_open_in_this_process_is_refused(lite: MilvusStore) -> None:
    assert lite.lite_path is not None
    with pytest.raises(StartupError) as caught:
        _open(lite.lite_path)
    assert str(caught.value) == (
        f"the vector data under {lite.lite_path} is in use by another ragplatform process"
    )
    await lite.ping()  # the first opener is unaffected


async def test_other_processes_are_refused_in_one_line(tmp_path: Path) -> None:
    """Another ragplatform (our lock), or another program holding Milvus Lite's own lock."""
    ours, theirs = tmp_path / "ours.db", tmp_path / "theirs.db"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from pymilvus import MilvusClient\n"
        "from ragplatform.adapters.vectorstores.milvus import MilvusStore\n"
        f"MilvusStore.open_lite(Path(sys.argv[1]), collection_name='c', dimension={DIM})\n"
        "client = MilvusClient(sys.argv[2])\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
    )
    holder = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-c", script, str(ours), str(theirs)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert await asyncio.to_thread(holder.stdout.readline) == "ready\n"
        with pytest.raises(StartupError) as caught:
            _open(ours)
        assert str(caught.value) == (
            f"the vector data under {ours} is in use by another ragplatform process"
        )
        with pytest.raises(StartupError, match="is another program using it") as other:
            _open(theirs)
        assert "\n" not in str(other.value)
    finally:
        await asyncio.to_thread(holder.communicate, "", 60)
    store = _open(ours)  # released with the process
    await store.close()


async def test_another_dimension_is_refused(tmp_path: Path) -> None:
    store = _open(tmp_path / "m.db", dimension=8)
    await store.close()
    with pytest.raises(StartupError, match="holds 8-d dense vectors, not 16-d"):
        _open(tmp_path / "m.db", dimension=16)
    store = _open(tmp_path / "m.db", dimension=8)  # the failed open released the file
    await store.close()


async def test_a_foreign_collection_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    client = MilvusClient(str(path))
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.VARCHAR, max_length=36, is_primary=True)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=DIM)
    client.create_collection("rp_minilm_384", schema=schema)
    client.close()
    server_manager_instance.release_server(str(path))
    with pytest.raises(
        StartupError, match=r"not created by ragplatform \(no bm25, terms, keyword_text, chunk_id,"
    ):
        _open(path)


def test_unusable_paths_are_startup_errors(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match=r"must end in \.db"):
        _open(tmp_path / "milvus")
    (tmp_path / "file").write_text("x")
    with pytest.raises(StartupError, match="cannot open the vector data"):
        _open(tmp_path / "file" / "sub" / "m.db")


async def test_engine_failures_become_unavailable(lite: MilvusStore) -> None:
    await lite.upsert(tenant_id=T, chunks=[chunk(T)])
    assert lite.lite_path is not None
    server_manager_instance.release_server(str(lite.lite_path))  # the engine goes away
    with pytest.raises(Unavailable) as caught:
        await lite.count(tenant_id=T)
    assert caught.value.code == "vector_store_unavailable"
    with pytest.raises(Unavailable):
        await lite.ping()


async def test_a_closed_store_refuses_calls(tmp_path: Path) -> None:
    store = _open(tmp_path / "m.db")
    await store.close()
    with pytest.raises(Unavailable, match="closed"):
        await store.count(tenant_id=T)
    with pytest.raises(Unavailable, match="closed"):
        await store.ping()


async def test_unreachable_server_is_unavailable() -> None:
    with pytest.raises(Unavailable) as caught:
        await MilvusStore.connect(
            "http://127.0.0.1:1",
            token=None,
            timeout_s=2,
            collection_prefix="rp",
            model="all-MiniLM-L6-v2",
            dimension=DIM,
        )
    assert caught.value.code == "vector_store_unavailable"


def test_a_malformed_uri_is_a_startup_error() -> None:
    with pytest.raises(StartupError, match="cannot connect to Milvus at ftp://x"):
        asyncio.run(
            MilvusStore.connect(
                "ftp://x",
                token=None,
                timeout_s=2,
                collection_prefix="rp",
                model="m",
                dimension=DIM,
            )
        )


async def test_a_server_endpoint_works_without_filter_templating(lite_endpoint: str) -> None:
    """The server path (connect, index wait, probe) against Milvus Lite's gRPC endpoint."""
    store = await MilvusStore.connect(
        lite_endpoint,
        token="user:secret",
        timeout_s=10,
        collection_prefix="rp",
        model="all-MiniLM-L6-v2",
        dimension=DIM,
    )
    try:
        assert store.lite_path is None
        assert store.collection.name == "rp_all_minilm_l6_v2_384"
        assert store.collection.templating is False  # the probe found no templating
        await store.upsert(tenant_id=T, chunks=[chunk(T, index=i) for i in range(3)])
        assert await store.count(tenant_id=T, document_id="d1") == 3
        exported = [r async for batch in store.export_chunks(tenant_id=T) for r in batch]
        assert sorted(r.chunk_index for r in exported) == [0, 1, 2]
        await store.ping()
    finally:
        await store.close()


def test_error_classification() -> None:
    class Rpc(grpc.RpcError):
        def __init__(self, code: grpc.StatusCode) -> None:
            self._code = code

        def code(self) -> grpc.StatusCode:
            return self._code

    assert is_io(Rpc(grpc.StatusCode.UNAVAILABLE))
    assert is_io(Rpc(grpc.StatusCode.DEADLINE_EXCEEDED))
    assert not is_io(Rpc(grpc.StatusCode.INVALID_ARGUMENT))
    assert is_io(MilvusException(code=2, message="connect failed"))
    assert is_io(MilvusException(code=8, message="rate limited"))
    assert not is_io(MilvusException(code=1100, message="bad expression"))
    wrapped = MilvusException(code=1, message="x")
    wrapped.__cause__ = Rpc(grpc.StatusCode.UNAVAILABLE)
    assert is_io(wrapped)
    assert is_io(OSError("reset"))
    assert not is_io(ValueError("bad vector"))


async def test_programming_errors_surface_unchanged(lite: MilvusStore) -> None:
    with pytest.raises(ValueError, match="tenant_id"):
        await lite.delete_tenant(tenant_id="")
    with pytest.raises(ValueError, match="longer than 255 bytes"):
        await lite.upsert(tenant_id=T, chunks=[chunk(T, document="d" * 256)])
    with pytest.raises(MilvusException):
        await lite._run(lite.collection.count, Expr("nope =="))


async def test_large_upserts_are_split_into_batches(
    lite: MilvusStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = lite.collection.upsert
    monkeypatch.setattr(
        lite.collection, "upsert", lambda rows: (calls.append(len(rows)), real(rows))
    )
    lite.batch_size = 100
    await lite.upsert(tenant_id=T, chunks=[chunk(T, index=i) for i in range(250)])
    assert calls == [100, 100, 50]
    assert await lite.count(tenant_id=T) == 250


async def test_documents_beyond_one_query_page_list_and_update(lite: MilvusStore) -> None:
    """Reads past Milvus' per-query cap go through the iterator (1,000 rows a batch)."""
    payload: dict[str, Any] = {"title": "big", "metadata": {"v": 1}}
    await lite.upsert(
        tenant_id=T, chunks=[chunk(T, index=i, payload=payload) for i in range(1_205)]
    )
    page = await lite.list_chunks(tenant_id=T, document_id="d1", version=1, offset=1_200, limit=10)
    assert [h.payload["chunk_index"] for h in page] == [1_200, 1_201, 1_202, 1_203, 1_204]
    await lite.set_document_metadata(tenant_id=T, document_id="d1", metadata={"v": 2})
    [last] = await lite.list_chunks(tenant_id=T, document_id="d1", version=1, offset=1_204, limit=1)
    assert last.payload["metadata"] == {"v": 2}
    assert last.payload["title"] == "big"


async def test_an_abandoned_export_is_closed(lite: MilvusStore) -> None:
    await lite.upsert(tenant_id=T, chunks=[chunk(T, index=i) for i in range(5)])
    batches = lite.export_chunks(tenant_id=T, batch_size=2)
    first = await anext(batches)
    assert len(first) == 2
    await batches.aclose()
    assert await lite.count(tenant_id=T) == 5


async def test_the_factory_builds_milvus_lite_under_the_data_dir(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, vector={"backend": "milvus", "fusion": "dbsf"})
    store = await build_vector_store(settings, model="all-MiniLM-L6-v2", dimension=DIM)
    try:
        assert isinstance(store, MilvusStore)
        assert store.lite_path == tmp_path / "milvus" / "ragplatform.db"
        assert store.collection.name == "ragplatform_all_minilm_l6_v2_384"
        assert store.fusion == "rrf"
        await store.ping()
    finally:
        await store.close()


async def test_the_factory_connects_to_a_milvus_server(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        vector={
            "backend": "milvus",
            "milvus_uri": "http://127.0.0.1:1",
            "milvus_token": "root:Milvus",
            "timeout_s": 2,
        },
    )
    with pytest.raises(Unavailable):
        await build_vector_store(settings, model="m", dimension=DIM)


async def test_a_server_gets_values_as_filter_params(lite: MilvusStore) -> None:
    """With templating (a server) values travel beside the text; Milvus Lite gets literals."""
    collection = lite.collection
    expr, value = Expr(), 'a"b'
    expr.add(f"tenant_id == {expr.value(value)}")
    assert collection.filter(expr) == {"filter": 'tenant_id == "a\\"b"'}
    collection.templating = True
    try:
        assert collection.filter(expr) == {
            "filter": "tenant_id == {p0}",
            "filter_params": {"p0": 'a"b'},
        }
        assert collection.filter(expr, key="expr") == {
            "expr": "tenant_id == {p0}",
            "expr_params": {"p0": 'a"b'},
        }
        # Milvus Lite cannot parse templates: the text reaches the engine with placeholders
        with pytest.raises(MilvusException, match=r"unexpected character '\{'"):
            collection.scan(expr, ["id"], 10).next()
    finally:
        collection.templating = False


async def test_a_collection_the_engine_refuses_is_a_startup_error(
    tmp_path: Path, lite_endpoint: str
) -> None:
    with pytest.raises(StartupError, match=r"cannot create the Milvus collection c: .*dim > 0"):
        _open(tmp_path / "m.db", name="c", dimension=0)
    store = _open(tmp_path / "m.db")  # the failed open released the file
    await store.close()
    with pytest.raises(StartupError, match="cannot create the Milvus collection rp_m_0"):
        await MilvusStore.connect(
            lite_endpoint,
            token=None,
            timeout_s=10,
            collection_prefix="rp",
            model="m",
            dimension=0,
        )
