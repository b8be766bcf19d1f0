from __future__ import annotations

import re
from typing import Any

import pytest

from ragplatform.retrieval.prompt import NO_ANSWER
from tests.documents_support import create_collection, upload, wait_for
from tests.platform import Api, TenantFixture, bearer
from tests.sse import parse_sse

CORPUS = {
    "remote.txt": (
        b"Remote work policy. Employees may work from home up to three days per week with "
        b"their manager's approval. Remote days must be recorded in the HR portal."
    ),
    "printer.txt": (
        b"Printer troubleshooting. The Okonkwo printer on floor two jams when loaded with glossy "
        b"paper. Use plain paper and call facilities on extension 4410 when it jams."
    ),
    "lunch.txt": b"The cafeteria serves vegetarian lunch options every weekday at noon.",
}


@pytest.fixture
def indexed(api: Api, acme: TenantFixture) -> str:
    collection = create_collection(api.client, acme.owner_key, "handbook")
    response = upload(api.client, acme.owner_key, collection, CORPUS)
    for doc in response.json()["documents"]:
        assert wait_for(api.client, acme.owner_key, doc["id"])["status"] == "ready"
    return collection


def _ask(api: Api, token: str, **body: Any) -> dict[str, Any]:
    response = api.client.post("/api/v1/ask", json=body, headers=bearer(token))
    assert response.status_code == 200, response.text
    return dict(response.json())


def _stream(api: Api, token: str, **body: Any) -> list[tuple[str, Any]]:
    with api.client.stream(
        "POST", "/api/v1/ask", json={**body, "stream": True}, headers=bearer(token)
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return parse_sse(response.iter_lines())


def test_answer_cites_real_chunks(api: Api, acme: TenantFixture, indexed: str) -> None:
    body = _ask(api, acme.owner_key, question="How many days a week can I work from home?")
    assert body["mode"] == "extractive"
    assert body["model"].startswith("extractive/")
    assert "three days per week" in body["answer"]
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", body["answer"])}
    cited = {c["n"]: c for c in body["citations"]}
    assert numbers and numbers <= cited.keys()
    first = cited[min(numbers)]
    assert first["collection_id"] == indexed and first["quote"]
    assert "remote" in (first["source"] or "")
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert body["cached"] is False


def test_absent_topic_says_it_does_not_know(api: Api, acme: TenantFixture, indexed: str) -> None:
    body = _ask(api, acme.owner_key, question="What is the boiling point of liquid nitrogen?")
    assert body["answer"] == NO_ANSWER
    assert body["citations"] == []


def test_no_collections_means_no_answer(api: Api, acme: TenantFixture) -> None:
    body = _ask(api, acme.owner_key, question="How many remote days?")
    assert body["answer"] == NO_ANSWER and body["citations"] == []


def test_stream_sends_citations_then_deltas_then_done(
    api: Api, acme: TenantFixture, indexed: str
) -> None:
    question = "What should I do when the printer jams?"
    events = _stream(api, acme.owner_key, question=question)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "citations" and kinds[-1] == "done"
    assert set(kinds[1:-1]) == {"delta"} and len(kinds) >= 3
    text = "".join(data["text"] for kind, data in events if kind == "delta")
    assert "4410" in text or "plain paper" in text
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", text)}
    assert numbers <= {c["n"] for c in events[0][1]["citations"]}
    assert events[-1][1]["usage"]["completion_tokens"] > 0
    again = _ask(api, acme.owner_key, question=question)
    assert again["cached"] is True and again["answer"] == text


def test_cached_answers_are_invalidated_by_an_upload(
    api: Api, acme: TenantFixture, indexed: str
) -> None:
    token = acme.owner_key
    question = "When is lunch served?"
    assert _ask(api, token, question=question)["cached"] is False
    assert _ask(api, token, question="  When is   lunch served? ")["cached"] is True
    doc = upload(api.client, token, indexed, {"lunch2.txt": b"Lunch moves to 1 pm on Fridays."})
    wait_for(api.client, token, doc.json()["documents"][0]["id"])
    assert _ask(api, token, question=question)["cached"] is False
    metrics = api.client.get("/metrics").text
    assert 'ragplatform_cache_lookups_total{cache="ask",outcome="hit"} 1.0' in metrics
    assert 'ragplatform_stage_duration_seconds_count{stage="generate"}' in metrics
    assert 'ragplatform_generated_tokens_total{kind="completion"}' in metrics


def test_a_cached_stream_replays_the_whole_answer(
    api: Api, acme: TenantFixture, indexed: str
) -> None:
    first = _ask(api, acme.owner_key, question="Where are remote days recorded?")
    events = _stream(api, acme.owner_key, question="Where are remote days recorded?")
    assert [k for k, _ in events] == ["citations", "delta", "done"]
    assert events[1][1]["text"] == first["answer"] and events[2][1]["cached"] is True


def test_scopes_and_tenants_apply(
    api: Api, acme: TenantFixture, globex: TenantFixture, indexed: str
) -> None:
    other = create_collection(api.client, acme.owner_key, "other")
    scoped = api.create_key(acme.owner_key, role="viewer", collection_ids=[other])["key"]
    assert _ask(api, scoped, question="How many remote days?")["answer"] == NO_ANSWER
    assert _ask(api, globex.owner_key, question="How many remote days?")["citations"] == []
    for token in (scoped, globex.owner_key):
        probe = api.client.post(
            "/api/v1/ask",
            json={"question": "remote days", "collection_ids": [indexed]},
            headers=bearer(token),
        )
        assert probe.status_code == 404 and "remote" not in probe.text.lower()


@pytest.mark.parametrize(
    "body",
    [
        {"question": ""},
        {"question": "   "},
        {"question": "why? " * 1000},
        {"question": "x", "top_k": 0},
        {"question": "x", "top_k": 51},
        {"question": "x", "filter": {"field": "year", "gte": "soon"}},
        {"question": "x", "stream": "maybe"},
        {"question": "x", "temperature": 3},
    ],
)
def test_bad_questions_are_422(api: Api, acme: TenantFixture, body: dict[str, Any]) -> None:
    response = api.client.post("/api/v1/ask", json=body, headers=bearer(acme.owner_key))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["code"] and problem["request_id"]


def test_unknown_collection_is_404(api: Api, acme: TenantFixture) -> None:
    response = api.client.post(
        "/api/v1/ask",
        json={"question": "x", "collection_ids": ["00000000-0000-0000-0000-000000000000"]},
        headers=bearer(acme.owner_key),
    )
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_viewers_may_ask_and_anonymous_callers_may_not(
    api: Api, acme: TenantFixture, indexed: str
) -> None:
    viewer = api.create_key(acme.owner_key, role="viewer")["key"]
    assert "three days" in _ask(api, viewer, question="remote work days per week")["answer"]
    assert api.client.post("/api/v1/ask", json={"question": "x"}).status_code == 401
