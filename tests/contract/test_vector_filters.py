"""Metadata filters in VectorStore.search: every adapter returns the same documents."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ragplatform.ports import SearchMode, VectorHit, VectorStore
from ragplatform.retrieval.filters import parse_filter
from tests.contract.vector_data import chunk, fake_vector, is_milvus

A, B = "tenant-a", "tenant-b"
MODES: tuple[SearchMode, ...] = ("hybrid", "dense", "keyword")
QUERY = fake_vector("query")

# One chunk per document; the document id names the case it exercises.
CORPUS: dict[str, dict[str, Any]] = {
    "d2019": {
        "year": 2019,
        "lang": "en",
        "score": 0.5,
        "draft": True,
        "tags": ["a", "b"],
        "published": "2019-06-01",
        "author": {"name": "ann", "age": 30},
    },
    "d2020": {
        "year": 2020,
        "lang": "de",
        "score": 1.5,
        "draft": False,
        "tags": ["b"],
        "published": "2020-01-01T00:00:00Z",
        "author": {"name": "bob"},
    },
    "d2021": {
        "year": 2021,
        "lang": "en",
        "score": 2.5,
        "tags": [],
        "published": "2021-03-01T10:00:00+02:00",
        "author": {"name": "cy", "age": 41},
    },
    "d2022": {
        "year": 2022,
        "lang": "fr",
        "draft": True,
        "tags": ["c"],
        "published": "2022-12-31T23:59:59",
        "rating": "5",
    },
    "dstr": {"year": "2021", "lang": ["en", "de"], "draft": 1, "published": "nope", "rating": 5},
    "dfloat": {"year": 2021.0, "score": -1, "published": "2024-03-01"},
    "dpy": {
        "published": dt.datetime(2024, 3, 1, 10, 0),
        "day": dt.date(2024, 3, 1),
        "author": {"name": "ann"},
        "reviewers": [{"name": "zed"}],
    },
    "dnull": {"year": None, "lang": None, "draft": None},
    "dnone": {},
}
ALL = set(CORPUS)
DATED = {"d2019", "d2020", "d2021", "d2022", "dfloat", "dpy"}


def _eq(field: str, value: object) -> dict[str, Any]:
    return {"field": field, "eq": value}


def _in(field: str, *values: object) -> dict[str, Any]:
    return {"field": field, "in": list(values)}


def _range(field: str, **bounds: object) -> dict[str, Any]:
    return {"field": field, **bounds}


CASES: dict[str, tuple[dict[str, Any], set[str]]] = {
    # eq: one value of one type; a list field matches when any element does
    "eq-string": (_eq("lang", "en"), {"d2019", "d2021", "dstr"}),
    "eq-int-not-string-or-float": (_eq("year", 2021), {"d2021"}),
    "eq-integral-float-is-int": (_eq("year", 2021.0), {"d2021"}),
    "eq-numeric-string": (_eq("year", "2021"), {"dstr"}),
    "eq-decimal": (_eq("score", 2.5), {"d2021"}),
    "eq-true-not-one": (_eq("draft", True), {"d2019", "d2022"}),
    "eq-false-not-zero-or-null": (_eq("draft", False), {"d2020"}),
    "eq-one-not-true": (_eq("draft", 1), {"dstr"}),
    "eq-list-element": (_eq("tags", "b"), {"d2019", "d2020"}),
    # in
    "in-strings": (_in("lang", "de", "fr"), {"d2020", "d2022", "dstr"}),
    "in-ints": (_in("year", 2019, 2022), {"d2019", "d2022"}),
    "in-bools": (_in("draft", True, False), {"d2019", "d2020", "d2022"}),
    "in-list-elements": (_in("tags", "a", "c"), {"d2019", "d2022"}),
    # numeric ranges: ints and floats alike, never strings or booleans
    "gt": (_range("year", gt=2021), {"d2022"}),
    "gte": (_range("year", gte=2021), {"d2021", "d2022", "dfloat"}),
    "lt": (_range("year", lt=2020), {"d2019"}),
    "lte": (_range("year", lte=2020), {"d2019", "d2020"}),
    "gte-lt": (_range("year", gte=2020, lt=2022), {"d2020", "d2021", "dfloat"}),
    "gt-lte-decimals": (_range("score", gt=-1, lte=1.5), {"d2019", "d2020"}),
    "number-range-skips-strings": (_range("rating", gte=0), {"dstr"}),
    "number-range-skips-booleans": (_range("draft", gte=0, lte=1), {"dstr"}),
    # date ranges: bounds and stored values as dates, naive/offset datetimes (UTC)
    "date-only-bounds": (_range("published", gte="2020-01-01", lt="2021-01-01"), {"d2020"}),
    "date-strict-lower": (_range("published", gt="2020-01-01", lt="2022-01-01"), {"d2021"}),
    "datetime-offset-stored-lte": (
        _range("published", lte="2021-03-01T08:00:00Z"),
        {"d2019", "d2020", "d2021"},
    ),
    "datetime-offset-stored-lt": (
        _range("published", lt="2021-03-01T08:00:00Z"),
        {"d2019", "d2020"},
    ),
    "date-only-stored-is-midnight-utc": (
        _range("published", gte="2024-03-01", lt="2024-03-01T00:00:01Z"),
        {"dfloat"},
    ),
    "date-only-stored-in-datetime-bounds": (
        _range("published", gte="2019-06-01T00:00:00Z", lte="2019-06-01"),
        {"d2019"},
    ),
    "naive-stored-is-utc": (
        _range("published", gt="2023-01-01T00:59:58+01:00", lte="2022-12-31T23:59:59Z"),
        {"d2022"},
    ),
    "python-datetime-metadata": (
        _range("published", gte="2024-03-01T10:00:00Z", lte="2024-03-01T10:00:00"),
        {"dpy"},
    ),
    "python-date-metadata": (_range("day", gte="2024-03-01", lte="2024-03-01"), {"dpy"}),
    "date-range-skips-non-dates": (_range("published", gte="1900-01-01"), DATED),
    # combinators; missing and null fields match no condition, so `not` keeps them
    "and": ({"and": [_eq("lang", "en"), _range("year", gte=2020)]}, {"d2021"}),
    "or": ({"or": [_eq("year", 2019), _eq("lang", "fr")]}, {"d2019", "d2022"}),
    "not-keeps-missing-and-null": (
        {"not": _eq("lang", "en")},
        {"d2020", "d2022", "dfloat", "dpy", "dnull", "dnone"},
    ),
    "not-range-keeps-missing": ({"not": _range("year", gte=0)}, {"dstr", "dpy", "dnull", "dnone"}),
    "not-in-bools-keeps-null": (
        {"not": _in("draft", True, False)},
        {"d2021", "dstr", "dfloat", "dpy", "dnull", "dnone"},
    ),
    "nested-combinators": (
        {
            "or": [
                {"and": [_eq("draft", True), {"not": _eq("tags", "c")}]},
                _eq("author.name", "bob"),
            ]
        },
        {"d2019", "d2020"},
    ),
    # dotted fields address nested objects under the document's metadata only
    "nested-field": (_eq("author.name", "ann"), {"d2019", "dpy"}),
    "nested-field-range": (_range("author.age", gte=35), {"d2021"}),
    "not-nested-field": ({"not": _range("author.age", lt=35)}, ALL - {"d2019"}),
    "dots-do-not-enter-lists": (_eq("reviewers.name", "zed"), set()),
    "layout-keys-are-not-metadata": ({"or": [_eq("title", "d2019"), _eq("tenant_id", A)]}, set()),
}


def _docs(hits: list[VectorHit]) -> set[str]:
    names = [h.payload["document_id"] for h in hits]
    assert len(names) == len(set(names))
    return set(names)


async def _load(store: VectorStore, tenant: str, collection: str = "c1") -> None:
    chunks = [
        chunk(
            tenant,
            collection,
            name,
            text=f"quarterly report {name}",
            dense=fake_vector(name),
            payload={"title": name, "metadata": metadata},
        )
        for name, metadata in CORPUS.items()
    ]
    await store.upsert(tenant_id=tenant, chunks=chunks)


async def _search(
    store: VectorStore,
    raw: dict[str, Any] | None,
    *,
    tenant: str = A,
    mode: SearchMode = "hybrid",
    limit: int = 50,
) -> list[VectorHit]:
    return await store.search(
        tenant_id=tenant,
        collection_ids=["c1"],
        query_text="report",
        query_dense=QUERY,
        mode=mode,
        limit=limit,
        filter=None if raw is None else parse_filter(raw),
    )


@pytest.mark.parametrize(("raw", "expected"), list(CASES.values()), ids=list(CASES))
async def test_filter(store: VectorStore, raw: dict[str, Any], expected: set[str]) -> None:
    """Each case in every search mode (one store per case: shard creation dominates)."""
    await _load(store, A)
    await _load(store, B)
    for mode in MODES:
        hits = await _search(store, raw, mode=mode)
        assert (mode, _docs(hits)) == (mode, expected)
        assert {h.payload["tenant_id"] for h in hits} <= {A}


@pytest.mark.parametrize("mode", MODES)
async def test_no_filter_returns_everything(store: VectorStore, mode: SearchMode) -> None:
    await _load(store, A)
    assert _docs(await _search(store, None, mode=mode)) == ALL


@pytest.mark.parametrize("mode", MODES)
async def test_filters_never_reach_another_tenant_or_collection(
    store: VectorStore, mode: SearchMode
) -> None:
    await _load(store, A)
    await _load(store, A, collection="c2")
    await _load(store, B)
    extra = chunk(B, "c1", "bonly", text="report", payload={"metadata": {"lang": "en"}})
    await store.upsert(tenant_id=B, chunks=[extra])
    everything = {"or": [_eq("lang", "en"), {"not": _eq("lang", "en")}]}
    hits = await _search(store, everything, mode=mode)
    assert _docs(hits) == ALL
    assert {h.payload["tenant_id"] for h in hits} == {A}
    assert {h.payload["collection_id"] for h in hits} == {"c1"}
    hits = await _search(store, _eq("lang", "en"), tenant=B, mode=mode)
    assert _docs(hits) == {"d2019", "d2021", "dstr", "bonly"}
    assert {h.payload["tenant_id"] for h in hits} == {B}
    hits = await _search(store, {"not": _eq("lang", "en")}, tenant=B, mode=mode)
    assert {h.payload["tenant_id"] for h in hits} == {B}
    assert "bonly" not in _docs(hits)


@pytest.mark.parametrize(("dense", "text"), [(True, "report"), (True, "zzz"), (False, "report")])
async def test_hybrid_prefetches_are_filtered(store: VectorStore, dense: bool, text: str) -> None:
    """A match that each branch ranks below the prefetch depth is still found."""
    noise = [
        chunk(A, "c1", f"noise{i}", text="report report", dense=QUERY, payload={"metadata": {}})
        for i in range(60)
    ]
    target = chunk(
        A,
        "c1",
        "target",
        text="report and more words here",
        dense=fake_vector("far away"),
        payload={"metadata": {"kind": "target"}},
    )
    await store.upsert(tenant_id=A, chunks=[*noise, target])
    hits = await store.search(
        tenant_id=A,
        collection_ids=["c1"],
        query_text=text,
        query_dense=QUERY if dense else None,
        mode="hybrid",
        limit=1,
        filter=parse_filter(_eq("kind", "target")),
    )
    assert _docs(hits) == {"target"}


async def test_ranking_within_the_filter_is_kept(store: VectorStore) -> None:
    await _load(store, A)
    hits = await store.search(
        tenant_id=A,
        collection_ids=["c1"],
        query_text="",
        query_dense=fake_vector("d2020"),
        mode="dense",
        limit=2,
        filter=parse_filter(_in("lang", "de", "fr")),
    )
    assert hits[0].payload["document_id"] == "d2020"
    assert len(hits) == 2
    assert hits[0].score > hits[1].score


LISTS: dict[str, dict[str, Any]] = {
    "spread": {"scores": [1, 10], "dates": ["2020-01-01", "2022-06-01T12:00:00Z"]},
    "inside": {"scores": [3, 5.5], "dates": ["nope", "2021-06-01"]},
    "mixed": {"scores": ["5", True, 7], "dates": [20210601, "2019-01-01"]},
    "scalar": {"scores": 5, "dates": "2021-01-01T00:00:00+01:00"},
}
LIST_CASES: dict[str, tuple[dict[str, Any], set[str]]] = {
    "any-element-in-range": (_range("scores", gte=4, lte=6), {"inside", "scalar"}),
    "range-around-no-element": (_range("scores", gt=1, lt=3), set()),
    "one-sided-any-element": (_range("scores", gte=7), {"spread", "mixed"}),
    "not-any-element": ({"not": _range("scores", gte=7)}, {"inside", "scalar"}),
    "any-date-in-range": (
        _range("dates", gte="2021-01-01", lt="2022-01-01"),
        {"inside"},
    ),
    "offset-date-in-a-list-world": (
        _range("dates", lt="2021-01-01"),
        {"spread", "mixed", "scalar"},
    ),
    "eq-any-element-of-mixed-list": (_eq("scores", 7), {"mixed"}),
    "eq-string-element-not-number": (_eq("scores", "5"), {"mixed"}),
}


@pytest.mark.parametrize(("raw", "expected"), list(LIST_CASES.values()), ids=list(LIST_CASES))
async def test_list_values_match_when_any_element_does(
    store: VectorStore, raw: dict[str, Any], expected: set[str]
) -> None:
    await store.upsert(
        tenant_id=A,
        chunks=[
            chunk(A, "c1", name, text="report", payload={"metadata": metadata})
            for name, metadata in LISTS.items()
        ],
    )
    for mode in MODES:
        assert (mode, _docs(await _search(store, raw, mode=mode))) == (mode, expected)


async def test_ranges_read_the_first_eight_elements_of_a_list_on_milvus(
    store: VectorStore,
) -> None:
    """Milvus keeps one filter slot per list element up to 8 (documented); Qdrant reads all."""
    numbers = list(range(100, 110))  # 10 elements: 108 and 109 are past the eighth
    await store.upsert(
        tenant_id=A,
        chunks=[chunk(A, "c1", "long", text="report", payload={"metadata": {"n": numbers}})],
    )
    early = await _search(store, _range("n", gte=107, lt=108), mode="dense")
    late = await _search(store, _range("n", gte=109), mode="dense")
    equal = await _search(store, _eq("n", 109), mode="dense")
    assert _docs(early) == _docs(equal) == {"long"}
    assert _docs(late) == (set() if is_milvus(store) else {"long"})
