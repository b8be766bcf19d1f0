from __future__ import annotations

import pytest

from tests.documents_support import create_collection, upload, wait_for
from tests.platform import Api, TenantFixture, bearer

CORPUS = {
    "remote.txt": b"Employees may work from home up to three days per week with manager approval.",
    "printer.txt": b"The Okonkwo printer on floor two jams when loaded with glossy paper.",
    "lunch.txt": b"The cafeteria serves vegetarian lunch options every weekday at noon.",
    "security.txt": b"Badges must be worn visibly at all times inside the building.",
}


@pytest.fixture
def indexed(api: Api, acme: TenantFixture) -> str:
    collection = create_collection(api.client, acme.owner_key, "handbook")
    response = upload(api.client, acme.owner_key, collection, CORPUS)
    for doc in response.json()["documents"]:
        assert wait_for(api.client, acme.owner_key, doc["id"])["status"] == "ready"
    return collection


def _search(api: Api, token: str, **body: object) -> dict:  # type: ignore[type-arg]
    response = api.client.post("/api/v1/search", json=body, headers=bearer(token))
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_modes_find_paraphrases_and_exact_terms(
    api: Api, acme: TenantFixture, indexed: str
) -> None:
    token = acme.owner_key
    dense = _search(api, token, query="Is telecommuting permitted?", mode="dense", top_k=2)
    assert dense["hits"][0]["source"] == "remote.txt"
    keyword = _search(api, token, query="Okonkwo", mode="keyword", top_k=3)
    assert [h["source"] for h in keyword["hits"]] == ["printer.txt"]
    mixed = "Is telecommuting permitted? Question from Okonkwo"
    hybrid = _search(api, token, query=mixed, mode="hybrid", top_k=2)
    assert {h["source"] for h in hybrid["hits"]} == {"remote.txt", "printer.txt"}
    orders = {
        mode: [h["chunk_id"] for h in _search(api, token, query=mixed, mode=mode, top_k=4)["hits"]]
        for mode in ("dense", "keyword", "hybrid")
    }
    assert len({tuple(o) for o in orders.values()}) == 3, orders
    hit = hybrid["hits"][0]
    assert {
        "chunk_id",
        "text",
        "score",
        "document_id",
        "collection_id",
        "title",
        "chunk_index",
    } <= hit.keys()
    assert hit["collection_id"] == indexed


def test_collections_default_to_all_readable_and_scopes_apply(
    api: Api, acme: TenantFixture, indexed: str
) -> None:
    other = create_collection(api.client, acme.owner_key, "other")
    upload(api.client, acme.owner_key, other, {"o.txt": b"Okonkwo also owns a bakery."})
    scoped = api.create_key(acme.owner_key, role="viewer", collection_ids=[indexed])["key"]
    hits = _search(api, scoped, query="Okonkwo", mode="keyword")["hits"]
    assert hits and all(h["collection_id"] == indexed for h in hits)
    denied = api.client.post(
        "/api/v1/search", json={"query": "x", "collection_ids": [other]}, headers=bearer(scoped)
    )
    assert denied.status_code == 404


def test_another_tenant_sees_nothing(
    api: Api, acme: TenantFixture, globex: TenantFixture, indexed: str
) -> None:
    assert _search(api, globex.owner_key, query="Okonkwo printer")["hits"] == []
    probe = api.client.post(
        "/api/v1/search",
        json={"query": "Okonkwo", "collection_ids": [indexed]},
        headers=bearer(globex.owner_key),
    )
    assert probe.status_code == 404 and "Okonkwo" not in probe.text


@pytest.mark.parametrize(
    "body",
    [
        {"query": ""},
        {"query": "   "},
        {"query": "x" * 2001},
        {"query": "x", "top_k": 0},
        {"query": "x", "top_k": 101},
        {"query": "x", "mode": "fuzzy"},
        {"query": "x", "filter": {"team": "a"}},
        {"query": "x", "collection_ids": ["not-a-uuid"]},
    ],
)
def test_bad_search_input_is_422(api: Api, acme: TenantFixture, body: dict) -> None:  # type: ignore[type-arg]
    response = api.client.post("/api/v1/search", json=body, headers=bearer(acme.owner_key))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_unknown_collection_is_404_and_threshold_filters(
    api: Api, acme: TenantFixture, indexed: str
) -> None:
    unknown = api.client.post(
        "/api/v1/search",
        json={"query": "x", "collection_ids": ["00000000-0000-0000-0000-000000000000"]},
        headers=bearer(acme.owner_key),
    )
    assert unknown.status_code == 404
    everything = _search(api, acme.owner_key, query="lunch", mode="dense", top_k=4)["hits"]
    cut = everything[0]["score"] - 1e-6
    kept = _search(api, acme.owner_key, query="lunch", mode="dense", top_k=4, score_threshold=cut)
    assert [h["chunk_id"] for h in kept["hits"]] == [everything[0]["chunk_id"]]


def test_a_replaced_document_never_shows_two_versions(
    api: Api, acme: TenantFixture, indexed: str
) -> None:
    token = acme.owner_key
    new = b"Employees may work from home five days per week, no approval needed."
    doc = upload(api.client, token, indexed, {"remote.txt": new}).json()["documents"][0]
    wait_for(api.client, token, doc["id"])
    hits = _search(api, token, query="work from home", mode="dense", top_k=10)["hits"]
    remote = [h for h in hits if h["source"] == "remote.txt"]
    assert len(remote) == 1 and "five days" in remote[0]["text"]


def test_metadata_filters_narrow_hits(api: Api, acme: TenantFixture) -> None:
    token = acme.owner_key
    collection = create_collection(api.client, token, "reports")
    reports = {
        "2019": (2019, "en", "2019-06-01", "Annual report on solar panel efficiency."),
        "2021": (2021, "de", "2021-03-15", "Annual report on solar panel recycling."),
        "2023": (2023, "en", "2023-11-30T08:00:00Z", "Annual report on solar panel pricing."),
    }
    for name, (year, lang, published, text) in reports.items():
        body = {
            "title": f"Report {name}",
            "text": text,
            "metadata": {"year": year, "lang": lang, "published": published},
        }
        response = api.client.post(
            f"/api/v1/collections/{collection}/documents", json=body, headers=bearer(token)
        )
        assert response.status_code == 202, response.text
        wait_for(api.client, token, response.json()["documents"][0]["id"])

    def titles(filter_: dict) -> set[str]:  # type: ignore[type-arg]
        hits = _search(api, token, query="annual solar report", top_k=10, filter=filter_)["hits"]
        return {h["title"] for h in hits}

    assert titles({"field": "lang", "eq": "en"}) == {"Report 2019", "Report 2023"}
    assert titles({"field": "year", "gte": 2020}) == {"Report 2021", "Report 2023"}
    assert titles({"field": "published", "lt": "2021-12-31"}) == {"Report 2019", "Report 2021"}
    assert titles({"field": "year", "in": [2019, 2021]}) == {"Report 2019", "Report 2021"}
    both = {"and": [{"field": "lang", "eq": "en"}, {"not": {"field": "year", "lt": 2020}}]}
    assert titles(both) == {"Report 2023"}
    either = {"or": [{"field": "lang", "eq": "de"}, {"field": "year", "eq": 2019}]}
    assert titles(either) == {"Report 2019", "Report 2021"}
    assert titles({"field": "lang", "eq": "fr"}) == set()


def test_bad_filters_explain_themselves(api: Api, acme: TenantFixture) -> None:
    response = api.client.post(
        "/api/v1/search",
        json={"query": "x", "filter": {"and": [{"field": "year", "gte": "soon"}]}},
        headers=bearer(acme.owner_key),
    )
    assert response.status_code == 422
    problem = response.json()
    assert "filter.and[0].gte" in str(problem["errors"]), problem


def test_every_chunk_is_indexed_with_its_document_title(api: Api, acme: TenantFixture) -> None:
    """A late chunk is found by words only its document's title holds (its context header)."""
    collection = create_collection(api.client, acme.owner_key, "titled")
    filler = " ".join(f"Sentence {i} talks about ordinary office matters." for i in range(120))
    body = f"# Zanzibar ferry timetable\n\n{filler}\n\nThe last boat leaves at dusk.\n".encode()
    response = upload(api.client, acme.owner_key, collection, {"ferry.md": body})
    doc = response.json()["documents"][0]
    assert wait_for(api.client, acme.owner_key, doc["id"])["status"] == "ready"
    hits = _search(
        api,
        acme.owner_key,
        query="Zanzibar",
        mode="keyword",
        top_k=50,
        collection_ids=[collection],
    )["hits"]
    assert len(hits) > 2  # every chunk, not only the first
    last = max(h["chunk_index"] for h in hits)
    assert any("last boat" in h["text"] for h in hits if h["chunk_index"] == last)
    assert all("Zanzibar" not in h["text"] for h in hits if h["chunk_index"] > 0)
