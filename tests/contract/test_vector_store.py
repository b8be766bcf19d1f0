"""The VectorStore contract: every adapter must pass this suite unchanged."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest

from ragplatform.ports import ChunkRecord, SearchMode, VectorHit, VectorStore
from tests.contract.vector_data import Encode, chunk, fake_vector, is_milvus

A, B = "tenant-a", "tenant-b"


def _ids(hits: list[VectorHit]) -> list[str]:
    return [h.payload["document_id"] for h in hits]


async def _search(
    store: VectorStore,
    tenant: str,
    text: str,
    *,
    dense: list[float] | None = None,
    mode: SearchMode = "keyword",
    collections: tuple[str, ...] = ("c1",),
    limit: int = 10,
) -> list[VectorHit]:
    return await store.search(
        tenant_id=tenant,
        collection_ids=list(collections),
        query_text=text,
        query_dense=dense,
        mode=mode,
        limit=limit,
    )


async def test_upsert_counts_and_reupsert_is_idempotent(store: VectorStore) -> None:
    chunks = [chunk(A, index=i) for i in range(5)]
    await store.upsert(tenant_id=A, chunks=chunks)
    assert await store.count(tenant_id=A) == 5
    changed = [chunk(A, index=i, text=f"rewritten {i}") for i in range(5)]
    await store.upsert(tenant_id=A, chunks=changed)
    assert await store.count(tenant_id=A) == 5
    listed = await store.list_chunks(tenant_id=A, document_id="d1", version=1, offset=0, limit=10)
    assert [h.payload["text"] for h in listed] == [f"rewritten {i}" for i in range(5)]
    await store.upsert(tenant_id=A, chunks=[])
    assert await store.count(tenant_id=A) == 5


async def test_payload_round_trip_and_ids(store: VectorStore) -> None:
    payload = {
        "title": "Handbook",
        "source": "handbook.pdf",
        "page": 3,
        "heading_path": ["Policies", "Leave"],
        "metadata": {"team": "hr", "tags": ["a", "b"], "created": dt.datetime(2024, 5, 1, 12, 0)},
        "tenant_id": "spoofed",
    }
    record = chunk(A, index=0, text="hello", payload=payload)
    await store.upsert(tenant_id=A, chunks=[record])
    [hit] = await store.list_chunks(tenant_id=A, document_id="d1", version=1, offset=0, limit=5)
    assert hit.id == record.id
    assert hit.score == 0.0
    assert hit.payload["tenant_id"] == A
    assert hit.payload["collection_id"] == "c1"
    assert hit.payload["document_id"] == "d1"
    assert hit.payload["document_version"] == 1
    assert hit.payload["chunk_index"] == 0
    assert hit.payload["text"] == "hello"
    assert hit.payload["title"] == "Handbook"
    assert hit.payload["source"] == "handbook.pdf"
    assert hit.payload["page"] == 3
    assert hit.payload["heading_path"] == ["Policies", "Leave"]
    assert hit.payload["metadata"] == {
        "team": "hr",
        "tags": ["a", "b"],
        "created": "2024-05-01T12:00:00",
    }
    [found] = await _search(store, A, "hello", dense=list(record.dense), mode="dense", limit=1)
    assert found.id == record.id
    assert found.payload == hit.payload


async def test_chunks_of_another_tenant_are_refused(store: VectorStore) -> None:
    with pytest.raises(ValueError, match="another tenant"):
        await store.upsert(tenant_id=A, chunks=[chunk(B)])
    with pytest.raises(ValueError, match="tenant_id"):
        await store.count(tenant_id="")
    with pytest.raises(ValueError, match="tenant_id"):
        await store.upsert(tenant_id="", chunks=[])
    assert await store.count(tenant_id=A) == 0
    assert await store.count(tenant_id=B) == 0


async def test_wrong_dimension_is_refused_before_writing(store: VectorStore) -> None:
    good = chunk(A, index=0)
    bad = chunk(A, index=1, dense=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="3-d"):
        await store.upsert(tenant_id=A, chunks=[good, bad])
    assert await store.count(tenant_id=A) == 0


async def test_delete_document_all_versions(store: VectorStore) -> None:
    await store.upsert(tenant_id=A, chunks=[chunk(A, document="d1", index=i) for i in range(3)])
    await store.upsert(
        tenant_id=A, chunks=[chunk(A, document="d1", index=i, version=2) for i in range(2)]
    )
    await store.upsert(tenant_id=A, chunks=[chunk(A, document="d2", index=i) for i in range(2)])
    await store.delete_document(tenant_id=A, document_id="d1")
    assert await store.count(tenant_id=A, document_id="d1") == 0
    assert await store.count(tenant_id=A, document_id="d2") == 2
    await store.delete_document(tenant_id=A, document_id="missing")
    assert await store.count(tenant_id=A) == 2


async def test_delete_document_except_version_replaces(store: VectorStore) -> None:
    await store.upsert(tenant_id=A, chunks=[chunk(A, index=i, version=1) for i in range(3)])
    await store.upsert(tenant_id=A, chunks=[chunk(A, index=i, version=2) for i in range(2)])
    assert await store.count(tenant_id=A, document_id="d1") == 5
    await store.delete_document(tenant_id=A, document_id="d1", except_version=2)
    assert await store.count(tenant_id=A, document_id="d1") == 2
    old = await store.list_chunks(tenant_id=A, document_id="d1", version=1, offset=0, limit=10)
    new = await store.list_chunks(tenant_id=A, document_id="d1", version=2, offset=0, limit=10)
    assert old == []
    assert [h.payload["chunk_index"] for h in new] == [0, 1]


async def test_delete_collection(store: VectorStore) -> None:
    await store.upsert(tenant_id=A, chunks=[chunk(A, "c1", f"d{i}") for i in range(3)])
    await store.upsert(tenant_id=A, chunks=[chunk(A, "c2", f"d{i}") for i in range(2)])
    await store.delete_collection(tenant_id=A, collection_id="c1")
    assert await store.count(tenant_id=A, collection_id="c1") == 0
    assert await store.count(tenant_id=A, collection_id="c2") == 2
    assert await _search(store, A, "chunk", collections=("c1",)) == []


async def test_delete_tenant(store: VectorStore) -> None:
    await store.upsert(tenant_id=A, chunks=[chunk(A, f"c{i}", f"d{i}") for i in range(4)])
    await store.delete_tenant(tenant_id=A)
    assert await store.count(tenant_id=A) == 0
    assert await _search(store, A, "chunk", collections=("c0", "c1", "c2", "c3")) == []


async def test_tenant_isolation_under_identical_ids_and_texts(store: VectorStore) -> None:
    def corpus(tenant: str) -> list[ChunkRecord]:
        return [
            chunk(tenant, collection, document, index, text=f"shared text {document} {index}")
            for collection in ("c1", "c2")
            for document in ("d1", "d2")
            for index in range(3)
        ]

    await store.upsert(tenant_id=A, chunks=corpus(A))
    await store.upsert(tenant_id=B, chunks=corpus(B))
    assert corpus(A)[0].id == corpus(B)[0].id
    assert await store.count(tenant_id=A) == await store.count(tenant_id=B) == 12

    probe = corpus(A)[0]
    modes: tuple[SearchMode, ...] = ("dense", "keyword", "hybrid")
    for mode in modes:
        found = {}
        for tenant in (A, B):
            hits = await _search(
                store,
                tenant,
                "shared text d1",
                dense=list(probe.dense),
                mode=mode,
                limit=50,
                collections=("c1", "c2"),
            )
            assert len(hits) == 12
            assert {h.payload["tenant_id"] for h in hits} == {tenant}
            # equal scores tie-break on engine ids, so fused (rank-based) scores may differ
            found[tenant] = sorted(
                (round(h.score, 5) if mode != "hybrid" else 0.0, str(h.id)) for h in hits
            )
        assert found[A] == found[B]

    listed = await store.list_chunks(tenant_id=B, document_id="d1", version=1, offset=0, limit=10)
    assert {h.payload["tenant_id"] for h in listed} == {B}

    await store.set_document_metadata(tenant_id=A, document_id="d1", metadata={"owner": "a"})
    listed = await store.list_chunks(tenant_id=B, document_id="d1", version=1, offset=0, limit=10)
    assert all(h.payload["metadata"] == {} for h in listed)

    await store.delete_document(tenant_id=A, document_id="d1")
    assert await store.count(tenant_id=A) == 6
    assert await store.count(tenant_id=B) == 12
    await store.delete_collection(tenant_id=A, collection_id="c2")
    assert await store.count(tenant_id=A) == 3
    assert await store.count(tenant_id=B) == 12
    await store.delete_tenant(tenant_id=A)
    assert await store.count(tenant_id=A) == 0
    assert await store.count(tenant_id=B) == 12
    assert await store.count(tenant_id=B, collection_id="c2", document_id="d1") == 3


async def test_keyword_idf_is_computed_per_tenant(store: VectorStore) -> None:
    """Qdrant computes BM25 IDF over the tenant's own points; Milvus over what the engine holds.

    Milvus' statistics are collection-wide (server) or per segment (Lite): a documented
    exception, so there only the tenant's ranking must survive another tenant's writes.
    """
    texts = ["zebra crossing rules", "parking rules", "office rules", "lunch menu"]
    for tenant in (A, B):
        await store.upsert(
            tenant_id=tenant,
            chunks=[chunk(tenant, document=f"d{i}", text=t) for i, t in enumerate(texts)],
        )
    before = await _search(store, B, "zebra rules")
    # Tenant A floods the store with the word "zebra": only A's statistics may change.
    flood = [chunk(A, document=f"z{i}", text=f"zebra {i}") for i in range(40)]
    await store.upsert(tenant_id=A, chunks=flood)
    after = await _search(store, B, "zebra rules")
    assert [h.id for h in before] == [h.id for h in after]
    assert _ids(after)[0] == "d0"
    assert {h.payload["tenant_id"] for h in after} == {B}
    if is_milvus(store):
        return
    assert [(h.id, round(h.score, 5)) for h in before] == [(h.id, round(h.score, 5)) for h in after]
    a_top = (await _search(store, A, "zebra rules", limit=1))[0]
    assert a_top.score != pytest.approx(before[0].score)  # A's own statistics did change


async def test_set_document_metadata_replaces_metadata_only(store: VectorStore) -> None:
    payload = {"title": "T", "metadata": {"old": 1, "keep": "no"}}
    await store.upsert(tenant_id=A, chunks=[chunk(A, index=i, payload=payload) for i in range(3)])
    await store.upsert(tenant_id=A, chunks=[chunk(A, document="d2", payload=payload)])
    await store.set_document_metadata(
        tenant_id=A, document_id="d1", metadata={"new": [1, 2], "when": dt.date(2024, 1, 2)}
    )
    listed = await store.list_chunks(tenant_id=A, document_id="d1", version=1, offset=0, limit=10)
    assert len(listed) == 3
    for hit in listed:
        assert hit.payload["metadata"] == {"new": [1, 2], "when": "2024-01-02"}
        assert hit.payload["title"] == "T"
        assert hit.payload["text"].startswith("chunk")
    [other] = await store.list_chunks(tenant_id=A, document_id="d2", version=1, offset=0, limit=10)
    assert other.payload["metadata"] == {"old": 1, "keep": "no"}
    hits = await _search(store, A, "chunk d1")
    assert {h.payload["metadata"].get("new") is not None for h in hits} == {True, False}


async def test_count_variants(store: VectorStore) -> None:
    await store.upsert(
        tenant_id=A,
        chunks=[
            chunk(A, collection, document, index)
            for collection, document, n in (("c1", "d1", 2), ("c1", "d2", 3), ("c2", "d3", 4))
            for index in range(n)
        ],
    )
    assert await store.count(tenant_id=A) == 9
    assert await store.count(tenant_id=A, collection_id="c1") == 5
    assert await store.count(tenant_id=A, collection_id="c2") == 4
    assert await store.count(tenant_id=A, document_id="d2") == 3
    assert await store.count(tenant_id=A, collection_id="c1", document_id="d2") == 3
    assert await store.count(tenant_id=A, collection_id="c2", document_id="d2") == 0
    assert await store.count(tenant_id=A, collection_id="nope") == 0
    assert await store.count(tenant_id=B) == 0


async def test_list_chunks_orders_by_chunk_index_and_pages(store: VectorStore) -> None:
    order = [7, 3, 19, 0, 12, 5, 21, 1, 9, 14, 2, 24, 6, 17, 11, 4, 23, 8, 16, 10, 13, 22, 15]
    order += [18, 20]
    await store.upsert(tenant_id=A, chunks=[chunk(A, index=i) for i in order])
    await store.upsert(tenant_id=A, chunks=[chunk(A, index=i, version=2) for i in range(4)])
    pages = []
    for offset in (0, 10, 20, 30):
        page = await store.list_chunks(
            tenant_id=A, document_id="d1", version=1, offset=offset, limit=10
        )
        pages.append([h.payload["chunk_index"] for h in page])
    assert pages == [list(range(10)), list(range(10, 20)), list(range(20, 25)), []]
    page = await store.list_chunks(tenant_id=A, document_id="d1", version=1, offset=3, limit=2)
    assert [h.payload["chunk_index"] for h in page] == [3, 4]
    assert all(h.payload["document_version"] == 1 for h in page)
    v2 = await store.list_chunks(tenant_id=A, document_id="d1", version=2, offset=0, limit=100)
    assert [h.payload["chunk_index"] for h in v2] == [0, 1, 2, 3]
    assert (
        await store.list_chunks(tenant_id=A, document_id="d1", version=1, offset=0, limit=0) == []
    )
    assert (
        await store.list_chunks(tenant_id=B, document_id="d1", version=1, offset=0, limit=5) == []
    )


async def test_unicode_and_very_long_texts(store: VectorStore) -> None:
    texts = {
        "jp": "東京の天気は晴れです — 日本語のテキスト",
        "emoji": "Deploy 🚀 succeeded ✅ on naïve café résumé",
        "rtl": "مرحبا بالعالم שלום עולם",
        "long": ("lorem ipsum dolor sit amet " * 2000)[:50_000] + " needleword",
    }
    await store.upsert(
        tenant_id=A, chunks=[chunk(A, document=name, text=text) for name, text in texts.items()]
    )
    for name, text in texts.items():
        [hit] = await store.list_chunks(tenant_id=A, document_id=name, version=1, offset=0, limit=1)
        assert hit.payload["text"] == text
    assert len(texts["long"]) > 50_000
    assert _ids(await _search(store, A, "needleword")) == ["long"]
    assert _ids(await _search(store, A, "café"))[0] == "emoji"
    assert _ids(await _search(store, A, "🚀 Deploy"))[0] == "emoji"


async def test_empty_collections_and_queries_return_nothing(store: VectorStore) -> None:
    vector = fake_vector("q")
    modes: tuple[SearchMode, ...] = ("dense", "keyword", "hybrid")
    for mode in modes:
        assert await _search(store, A, "anything", dense=vector, mode=mode) == []
    await store.upsert(tenant_id=A, chunks=[chunk(A, text="the quick brown fox")])
    modes: tuple[SearchMode, ...] = ("dense", "keyword", "hybrid")
    for mode in modes:
        assert await _search(store, A, "fox", dense=vector, mode=mode, collections=()) == []
        assert await _search(store, A, "fox", dense=vector, mode=mode, collections=("c9",)) == []
        assert await _search(store, A, "fox", dense=vector, mode=mode, limit=0) == []
    assert await _search(store, A, "the and of", mode="keyword") == []
    assert await _search(store, A, "the and of", mode="hybrid") == []
    assert _ids(await _search(store, A, "fox", mode="hybrid")) == ["d1"]
    with pytest.raises(ValueError, match="query_dense"):
        await _search(store, A, "fox", mode="dense")


async def test_chunks_without_keywords_are_found_by_dense_only(store: VectorStore) -> None:
    quiet = chunk(A, document="quiet", text="it is what it is")
    await store.upsert(tenant_id=A, chunks=[quiet, chunk(A, document="loud", text="loud words")])
    assert await store.count(tenant_id=A) == 2
    dense = await _search(store, A, "is", dense=list(quiet.dense), mode="dense", limit=1)
    assert _ids(dense) == ["quiet"]
    assert await _search(store, A, "it is what it is", mode="keyword") == []
    hybrid = await _search(store, A, "words", dense=list(quiet.dense), mode="hybrid")
    assert set(_ids(hybrid)) == {"quiet", "loud"}


async def test_search_is_limited_to_the_given_collections(store: VectorStore) -> None:
    for collection in ("c1", "c2", "c3"):
        await store.upsert(
            tenant_id=A, chunks=[chunk(A, collection, f"{collection}-d", text="alpha beta")]
        )
    probe = fake_vector("probe")
    modes: tuple[SearchMode, ...] = ("dense", "keyword", "hybrid")
    for mode in modes:
        hits = await _search(store, A, "alpha", dense=probe, mode=mode, collections=("c1", "c3"))
        assert sorted(h.payload["collection_id"] for h in hits) == ["c1", "c3"]


async def test_batch_of_thousands(store: VectorStore) -> None:
    chunks = [
        chunk(A, f"c{i % 3}", f"d{i // 10}", i % 10, text=f"item {i} w{i}") for i in range(3000)
    ]
    started = time.perf_counter()
    await store.upsert(tenant_id=A, chunks=chunks)
    elapsed = time.perf_counter() - started
    assert await store.count(tenant_id=A) == 3000
    assert await store.count(tenant_id=A, collection_id="c1") == 1000
    target = chunks[1234]
    started = time.perf_counter()
    hits = await _search(
        store, A, "w1234", dense=list(target.dense), mode="hybrid", collections=("c0", "c1", "c2")
    )
    query_s = time.perf_counter() - started
    assert hits[0].id == target.id
    name = type(store).__name__
    print(f"\n{name}: upsert 3000 in {elapsed:.2f}s, hybrid query {query_s * 1000:.1f} ms")


CORPUS = {
    "offsite": "The quarterly offsite moved to Lisbon after the venue in Porto flooded.",
    "password": "To reset a password, open account settings and choose the reset link.",
    "printer": "Okonkwo signed off the lobby printer toner order for the third floor.",
    "remote": "Employees may work from home up to three days per week with manager approval.",
    "lunch": "The cafeteria serves vegetarian lunch options every weekday.",
    "backup": "Backups of the production database run nightly at 02:00 UTC, kept 30 days.",
    "dogs": "Dogs are not allowed inside the office building.",
    "parking": "Parking is allowed only in the marked bays behind the warehouse.",
    "expenses": "Expense reports above 500 euros require a second approval from finance.",
}


@pytest.mark.parametrize("fusion", ["rrf", "dbsf"])
async def test_ranking_sanity_with_the_real_model(
    store: VectorStore, encode: Encode, fusion: str
) -> None:
    if is_milvus(store):
        # Milvus fuses by RRF only (documented exception to RAG_VECTOR__FUSION)
        assert store.fusion == "rrf"  # type: ignore[attr-defined]
        if fusion == "dbsf":
            pytest.skip("Milvus has no DBSF fusion")
    store.fusion = fusion  # type: ignore[attr-defined]  # both Qdrant adapters fuse either way
    names = list(CORPUS)
    vectors = encode([CORPUS[n] for n in names])
    await store.upsert(
        tenant_id=A,
        chunks=[
            chunk(A, document=n, text=CORPUS[n], dense=v)
            for n, v in zip(names, vectors, strict=True)
        ],
    )

    async def ranked(query: str, mode: SearchMode) -> list[str]:
        [vector] = encode([query])
        return _ids(await _search(store, A, query, dense=vector, mode=mode, limit=4))

    # dense finds the paraphrase that shares no word with the query; keyword cannot
    assert (await ranked("Is telecommuting permitted?", "dense"))[0] == "remote"
    assert "remote" not in await ranked("Is telecommuting permitted?", "keyword")
    # keyword finds the exact rare term
    assert (await ranked("Okonkwo", "keyword")) == ["printer"]
    # a designed query: each single mode favours a different chunk, hybrid keeps both on top
    query = "Is telecommuting permitted? Question from Okonkwo"
    dense = await ranked(query, "dense")
    keyword = await ranked(query, "keyword")
    hybrid = await ranked(query, "hybrid")
    assert dense[0] == "remote"
    assert keyword[0] == "printer"
    assert set(hybrid[:2]) == {"remote", "printer"}
    assert dense != keyword != hybrid != dense


async def test_hybrid_without_a_dense_vector_uses_keywords(store: VectorStore) -> None:
    await store.upsert(
        tenant_id=A,
        chunks=[
            chunk(A, document=f"d{i}", text=t) for i, t in enumerate(["red apple", "green pear"])
        ],
    )
    hits = await _search(store, A, "pear", mode="hybrid")
    assert _ids(hits) == ["d1"]
    assert hits[0].id == chunk(A, document="d1").id


async def test_ping_and_chunk_ids_are_uuids(store: VectorStore) -> None:
    await store.ping()
    await store.upsert(tenant_id=A, chunks=[chunk(A)])
    [hit] = await _search(store, A, "chunk")
    assert isinstance(hit.id, uuid.UUID)


async def test_keyword_index_reads_the_context_header(store: VectorStore) -> None:
    """BM25 sees ``payload["context"]`` before the text; hits return the text alone."""
    header = {"title": "t.md", "metadata": {}, "context": "Zanzibar ferries > Timetable"}
    await store.upsert(
        tenant_id=A,
        chunks=[
            chunk(A, index=0, text="The last boat leaves at dusk.", payload=header),
            chunk(A, document="d2", text="Ferries of the Baltic sea.", payload=None),
        ],
    )
    [hit] = await _search(store, A, "zanzibar")
    assert hit.payload["document_id"] == "d1"
    assert hit.payload["text"] == "The last boat leaves at dusk."
    assert hit.payload["context"] == "Zanzibar ferries > Timetable"
    await store.set_document_metadata(tenant_id=A, document_id="d1", metadata={"k": 1})
    [again] = await _search(store, A, "zanzibar")  # still indexed after a metadata update
    assert again.payload["metadata"] == {"k": 1}
    [exported] = [
        r
        for batch in [b async for b in store.export_chunks(tenant_id=A)]
        for r in batch
        if r.document_id == "d1"
    ]
    assert exported.payload["context"] == "Zanzibar ferries > Timetable"
