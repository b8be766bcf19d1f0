"""Hostile values never widen a query: metadata, filter values, query text and ids are data.

Milvus builds text expressions (with template parameters, or escaped literals on Milvus
Lite), so these run against every adapter to show that quotes, backslashes and expression
syntax in values match only themselves.
"""

from __future__ import annotations

from typing import Any

import pytest

from ragplatform.ports import SearchMode, VectorHit, VectorStore
from ragplatform.retrieval.filters import parse_filter
from tests.contract.vector_data import chunk, fake_vector

A, B = "tenant-a", "tenant-b"
MODES: tuple[SearchMode, ...] = ("hybrid", "dense", "keyword")
HOSTILE = {
    "dquote": '" or 1==1 or "',
    "squote": "' or 1==1 or '",
    "paren": ") or 1==1 or (",
    "backslash": '\\" ) or true or ( "\\',
    "template": "{p0} {p1} {filter}",
    "json": '"]) or json_contains_any(terms["e:kind"], ["s:x"]) or (["',
    "newline": "line one\nline two\r\n\ttabbed",
    "unicode": "ünïcødé 東京 🚀 \u202e",
    "nul": "nul\x00byte",
}


async def _load(store: VectorStore) -> None:
    for tenant in (A, B):
        await store.upsert(
            tenant_id=tenant,
            chunks=[
                chunk(
                    tenant,
                    document=name,
                    text=f"report {name}",
                    payload={"title": value, "metadata": {"kind": value, "tags": [value, "x"]}},
                )
                for name, value in HOSTILE.items()
            ],
        )


async def _search(
    store: VectorStore, raw: dict[str, Any] | None, *, mode: SearchMode, text: str = "report"
) -> list[VectorHit]:
    return await store.search(
        tenant_id=A,
        collection_ids=["c1"],
        query_text=text,
        query_dense=fake_vector("q"),
        mode=mode,
        limit=50,
        filter=None if raw is None else parse_filter(raw),
    )


def _docs(hits: list[VectorHit]) -> set[str]:
    assert {h.payload["tenant_id"] for h in hits} <= {A}
    return {h.payload["document_id"] for h in hits}


@pytest.mark.parametrize("mode", MODES)
async def test_hostile_filter_values_match_only_themselves(
    store: VectorStore, mode: SearchMode
) -> None:
    await _load(store)
    for name, value in HOSTILE.items():
        assert _docs(await _search(store, {"field": "kind", "eq": value}, mode=mode)) == {name}
        others = set(HOSTILE) - {name}
        assert _docs(await _search(store, {"not": {"field": "kind", "eq": value}}, mode=mode)) == (
            others
        )
        assert _docs(await _search(store, {"field": "tags", "in": [value]}, mode=mode)) == {name}
    pair = [HOSTILE["dquote"], HOSTILE["backslash"]]
    assert _docs(await _search(store, {"field": "kind", "in": pair}, mode=mode)) == {
        "dquote",
        "backslash",
    }


async def test_hostile_metadata_round_trips_unchanged(store: VectorStore) -> None:
    await _load(store)
    for name, value in HOSTILE.items():
        [hit] = await store.list_chunks(tenant_id=A, document_id=name, version=1, offset=0, limit=1)
        assert hit.payload["title"] == value
        assert hit.payload["metadata"] == {"kind": value, "tags": [value, "x"]}
    odd_keys = {'a"]': 1, "b')": 2, "c\\": 3, "ключ": 4, "": 5, "x.y": 6}
    await store.upsert(
        tenant_id=A, chunks=[chunk(A, document="keys", payload={"metadata": odd_keys})]
    )
    [hit] = await store.list_chunks(tenant_id=A, document_id="keys", version=1, offset=0, limit=1)
    assert hit.payload["metadata"] == odd_keys
    # a dotted filter field reads nested objects, never a key that contains a dot
    assert _docs(await _search(store, {"field": "x.y", "eq": 6}, mode="dense")) == set()


@pytest.mark.parametrize("mode", ["hybrid", "keyword"])
async def test_hostile_query_text_is_only_text(store: VectorStore, mode: SearchMode) -> None:
    await _load(store)
    for value in [*HOSTILE.values(), '") or tenant_id != "', "\\", "{", "}", '"', "'"]:
        hits = await _search(store, None, mode=mode, text=value)
        assert _docs(hits) <= set(HOSTILE)
        narrowed = await _search(store, {"field": "kind", "eq": "x"}, mode=mode, text=value)
        assert narrowed == []


async def test_hostile_ids_are_matched_exactly(store: VectorStore) -> None:
    tenant = 'a" or tenant_id != "'
    victim = chunk(B, collection="c1", document="d1")
    await store.upsert(tenant_id=B, chunks=[victim])
    hostile_doc = 'd1" or document_id != "'
    mine = chunk(tenant, collection='c1") or (1==1', document=hostile_doc)
    await store.upsert(tenant_id=tenant, chunks=[mine])
    assert await store.count(tenant_id=tenant) == 1
    assert await store.count(tenant_id=tenant, document_id=hostile_doc) == 1
    assert await store.count(tenant_id=tenant, collection_id="c1") == 0
    assert await store.count(tenant_id=tenant, document_id="d1") == 0
    deletions = (
        store.delete_document(tenant_id=tenant, document_id=hostile_doc),
        store.delete_collection(tenant_id=tenant, collection_id='c1") or (1==1'),
        store.delete_tenant(tenant_id=tenant),
    )
    for deletion in deletions:
        await store.upsert(tenant_id=tenant, chunks=[mine])
        await deletion
        assert await store.count(tenant_id=tenant) == 0
        assert await store.count(tenant_id=B) == 1
    [hit] = await store.list_chunks(tenant_id=B, document_id="d1", version=1, offset=0, limit=1)
    assert hit.id == victim.id
