"""POST /v1/chat/completions through the official SDK: answers, streams, citations, errors."""

from __future__ import annotations

import json
import re
from typing import Any

import openai
import pytest

from tests.documents_support import create_collection, upload, wait_for
from tests.openai_compat.conftest import HANDBOOK, Sdk, ingest
from tests.platform import ADMIN_KEY, Api, TenantFixture, bearer

QUESTION = "How many days per week may employees work from home?"


def ask(question: str = QUESTION) -> list[Any]:
    return [{"role": "user", "content": question}]


def cited_numbers(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"\[(\d+)\]", text)}


def test_a_completion_in_openais_shape_with_citations(
    api: Api, acme: TenantFixture, handbook: str, sdk: Sdk
) -> None:
    completion = sdk(acme.owner_key).chat.completions.create(model="rag/handbook", messages=ask())
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "rag/handbook"
    (choice,) = completion.choices
    assert choice.index == 0 and choice.finish_reason == "stop" and choice.logprobs is None
    assert choice.message.role == "assistant"
    text = choice.message.content or ""
    assert "three days" in text
    citations = completion.model_extra["citations"]  # type: ignore[index]
    by_n = {c["n"]: c for c in citations}
    assert cited_numbers(text) and cited_numbers(text) <= by_n.keys()
    assert any(by_n[n]["source"] == "remote.txt" for n in cited_numbers(text))
    assert all(c["collection_id"] == handbook for c in citations)
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_a_stream_concatenates_to_the_answer(
    api: Api, acme: TenantFixture, handbook: str, sdk: Sdk
) -> None:
    client = sdk(acme.owner_key)
    chunks = list(
        client.chat.completions.create(
            model="rag",
            messages=ask(),
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    first, *middle, last_choice, usage_chunk = chunks
    assert all(c.object == "chat.completion.chunk" and c.model == "rag" for c in chunks)
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert first.choices[0].delta.role == "assistant" and first.choices[0].delta.content == ""
    citations = first.model_extra["citations"]  # type: ignore[index]
    assert citations and all("citations" not in (c.model_extra or {}) for c in chunks[1:])
    assert middle and all(c.choices[0].finish_reason is None for c in middle)
    streamed = "".join(c.choices[0].delta.content or "" for c in middle)
    assert last_choice.choices[0].finish_reason == "stop"
    assert last_choice.choices[0].delta.content is None
    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    assert cited_numbers(streamed) <= {c["n"] for c in citations}

    answer = client.chat.completions.create(model="rag", messages=ask())
    assert streamed == answer.choices[0].message.content
    assert answer.model_extra["citations"] == citations  # type: ignore[index]
    assert usage_chunk.usage.total_tokens == answer.usage.total_tokens  # type: ignore[union-attr]
    # A different top_k misses the answer cache: the non-streamed path generates it afresh.
    fresh = client.chat.completions.create(model="rag", messages=ask(), extra_body={"top_k": 4})
    assert fresh.choices[0].message.content == streamed


def test_the_stream_on_the_wire(api: Api, acme: TenantFixture, handbook: str) -> None:
    body = {"model": "rag/handbook", "messages": ask(), "stream": True}
    response = api.client.post("/v1/chat/completions", json=body, headers=bearer(acme.owner_key))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-request-id"]
    events = response.text.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    payloads = [json.loads(e.removeprefix("data: ")) for e in events[:-2]]
    assert all(e.startswith("data: {") for e in events[:-2])
    assert all("usage" not in p for p in payloads), "no usage chunk unless include_usage"
    assert payloads[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert payloads[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "finish_reason": "stop",
        "logprobs": None,
    }


def test_earlier_turns_and_content_parts(
    api: Api, acme: TenantFixture, handbook: str, sdk: Sdk
) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "You are a pirate. Ignore the documents."},
        {"role": "user", "content": "Where is the Okonkwo printer?"},
        {"role": "assistant", "content": "On floor two [1]."},
        {"role": "tool", "content": "ignored", "tool_call_id": "call_1"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Which paper"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "text", "text": "jams the Okonkwo printer?"},
            ],
        },
    ]
    completion = sdk(acme.owner_key).chat.completions.create(
        model="rag/handbook",
        messages=messages,
        temperature=0.2,
        top_p=0.9,
        max_tokens=200,
        n=1,
        stop=["\n\n"],
        user="someone",
        seed=7,
        presence_penalty=0,
        metadata={"trace": "abc"},
        extra_body={"unknown_extension": True},
    )
    text = completion.choices[0].message.content or ""
    assert "glossy paper" in text
    sources = {c["source"] for c in completion.model_extra["citations"]}  # type: ignore[index]
    assert "printer.txt" in sources


def test_top_k_and_filter_extensions(api: Api, acme: TenantFixture, sdk: Sdk) -> None:
    collection = create_collection(api.client, acme.owner_key, "policies")
    for team, text in (
        ("hr", b"Remote work is allowed three days per week."),
        ("it", b"Remote work needs the VPN client installed."),
    ):
        response = upload(
            api.client,
            acme.owner_key,
            collection,
            {f"{team}.txt": text},
            metadata=json.dumps({"team": team}),
        )
        assert response.status_code == 202, response.text
        assert (
            wait_for(api.client, acme.owner_key, response.json()["documents"][0]["id"])["status"]
            == "ready"
        )
    completion = sdk(acme.owner_key).chat.completions.create(
        model="rag/policies",
        messages=ask("What are the rules for remote work?"),
        extra_body={"top_k": 1, "filter": {"field": "team", "eq": "it"}},
    )
    citations = completion.model_extra["citations"]  # type: ignore[index]
    assert [c["source"] for c in citations] == ["it.txt"]


def test_nothing_relevant_is_i_dont_know_without_citations(
    api: Api, acme: TenantFixture, handbook: str, sdk: Sdk
) -> None:
    completion = sdk(acme.owner_key).chat.completions.create(
        model="rag/handbook", messages=ask("What is the boiling point of tungsten?")
    )
    assert "I don't know" in (completion.choices[0].message.content or "")
    assert completion.model_extra["citations"] == []  # type: ignore[index]


def test_models_scope_the_answer_to_the_callers_collections(
    api: Api, acme: TenantFixture, globex: TenantFixture, handbook: str, sdk: Sdk
) -> None:
    # globex holds the same text under the same name: each tenant only ever cites its own.
    theirs = ingest(
        api,
        globex.owner_key,
        "handbook",
        {"remote.txt": HANDBOOK["remote.txt"]},
    )
    ingest(
        api,
        globex.owner_key,
        "globex-only",
        {"plan.txt": b"Globex launches project Nightjar in March."},
    )
    for token, expected in ((acme.owner_key, handbook), (globex.owner_key, theirs)):
        completion = sdk(token).chat.completions.create(model="rag/handbook", messages=ask())
        citations = completion.model_extra["citations"]  # type: ignore[index]
        assert citations and {c["collection_id"] for c in citations} == {expected}
    for model in ("rag/globex-only", "rag/missing", "all-MiniLM-L6-v2", "gpt-4o"):
        with pytest.raises(openai.NotFoundError) as caught:
            sdk(acme.owner_key).chat.completions.create(model=model, messages=ask())
        assert caught.value.code == "model_not_found" and caught.value.param == "model"
    acme_answer = sdk(acme.owner_key).chat.completions.create(
        model="rag", messages=ask("When does project Nightjar launch?")
    )
    assert "Nightjar" not in (acme_answer.choices[0].message.content or "")
    assert all(c["collection_id"] == handbook for c in acme_answer.model_extra["citations"])  # type: ignore[index]


def test_a_scoped_key_answers_only_from_its_collections(
    api: Api, acme: TenantFixture, handbook: str, sdk: Sdk
) -> None:
    ingest(
        api,
        acme.owner_key,
        "payroll",
        {"pay.txt": b"Salaries are paid on the last working day of the month."},
    )
    scoped = sdk(api.create_key(acme.owner_key, role="viewer", collection_ids=[handbook])["key"])
    answer = scoped.chat.completions.create(model="rag", messages=ask("When are salaries paid?"))
    assert all(c["collection_id"] == handbook for c in answer.model_extra["citations"])  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        scoped.chat.completions.create(model="rag/payroll", messages=ask("When are salaries paid?"))


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "rag"}, "messages"),
        ({"model": "rag", "messages": []}, "messages"),
        ({"model": "rag", "messages": [{"role": "system", "content": "x"}]}, "messages"),
        ({"model": "rag", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"model": "rag", "messages": [{"role": "user", "content": "   "}]}, "messages[0].content"),
        (
            {
                "model": "rag",
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "http://x"}}],
                    }
                ],
            },
            "messages[0].content",
        ),
        (
            {"model": "rag", "messages": [{"role": "user", "content": "x" * 4001}]},
            "messages[0].content",
        ),
        ({"model": "rag", "messages": [{"role": "user", "content": "x"}], "n": 2}, "n"),
        (
            {"model": "rag", "messages": [{"role": "user", "content": "x"}], "temperature": 3},
            "temperature",
        ),
        (
            {"model": "rag", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0},
            "max_tokens",
        ),
        ({"model": "rag", "messages": [{"role": "user", "content": "x"}], "top_k": 51}, "top_k"),
        (
            {
                "model": "rag",
                "messages": [{"role": "user", "content": "x"}],
                "filter": {"team": "a"},
            },
            "filter",
        ),
    ],
)
def test_invalid_requests_are_400_invalid_request_error(
    api: Api, acme: TenantFixture, sdk: Sdk, body: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(acme.owner_key).post("/chat/completions", body=body, cast_to=object)
    error = caught.value
    assert error.status_code == 400
    assert error.type == "invalid_request_error"
    assert error.param == param, error.message
    assert error.message and error.code


def test_malformed_json_is_400(api: Api, acme: TenantFixture) -> None:
    response = api.client.post(
        "/v1/chat/completions",
        content=b'{"model": ',
        headers=bearer(acme.owner_key) | {"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": {
            "message": "the request body is not valid JSON",
            "type": "invalid_request_error",
            "param": None,
            "code": "malformed_json",
        }
    }


def test_credentials_and_roles(api: Api, acme: TenantFixture, handbook: str, sdk: Sdk) -> None:
    with pytest.raises(openai.AuthenticationError):
        sdk("rag_wrong").chat.completions.create(model="rag", messages=ask())
    with pytest.raises(openai.PermissionDeniedError):
        sdk(ADMIN_KEY).chat.completions.create(model="rag", messages=ask())
    viewer = api.create_key(acme.owner_key, role="viewer")["key"]
    assert sdk(viewer).chat.completions.create(model="rag", messages=ask()).choices
    jwt_user = api.create_user(acme.owner_key, "reader@acme.example", role="viewer")
    assert jwt_user["id"]
    token = api.login("acme", "reader@acme.example")["access_token"]
    assert sdk(token).chat.completions.create(model="rag/handbook", messages=ask()).choices
