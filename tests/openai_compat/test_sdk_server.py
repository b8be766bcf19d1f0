"""The official SDK against a real ``ragplatform serve`` process: real HTTP, real streaming."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.e2e.test_server import cli, free_port, server_env, start_server
from tests.openai_compat.conftest import HANDBOOK
from tests.platform import ADMIN_KEY, bearer

pytestmark = pytest.mark.e2e


@pytest.fixture
def base(tmp_path: Path) -> Iterator[str]:
    env = server_env(tmp_path / "data", RAG_ADMIN_API_KEY=ADMIN_KEY)
    assert cli("migrate", env=env).returncode == 0
    url, proc = start_server(env, free_port())
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _tenant_key_with_handbook(base: str) -> str:
    admin = bearer(ADMIN_KEY)
    tenant = httpx.post(
        f"{base}/api/v1/tenants", json={"slug": "acme", "name": "Acme"}, headers=admin
    )
    body = {"name": "owner", "role": "owner", "tenant_id": tenant.json()["id"]}
    key = str(httpx.post(f"{base}/api/v1/api-keys", json=body, headers=admin).json()["key"])
    created = httpx.post(
        f"{base}/api/v1/collections", json={"name": "handbook"}, headers=bearer(key)
    )
    files = [("files", (name, data)) for name, data in HANDBOOK.items()]
    uploaded = httpx.post(
        f"{base}/api/v1/collections/{created.json()['id']}/documents",
        files=files,
        headers=bearer(key),
    )
    for doc in uploaded.json()["documents"]:
        deadline = time.monotonic() + 60
        while httpx.get(f"{base}/api/v1/documents/{doc['id']}", headers=bearer(key)).json()[
            "status"
        ] not in ("ready", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
    return key


def test_the_sdk_over_real_http(base: str) -> None:
    key = _tenant_key_with_handbook(base)
    client = openai.OpenAI(api_key=key, base_url=f"{base}/v1", max_retries=0)
    assert client.models.retrieve("rag/handbook").id == "rag/handbook"  # sent as rag%2Fhandbook
    question: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "How many days may employees work from home?"}
    ]
    with client.chat.completions.create(
        model="rag/handbook",
        messages=question,
        stream=True,
        stream_options={"include_usage": True},
    ) as stream:
        chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "three days" in streamed
    assert chunks[-1].usage is not None
    answer = client.chat.completions.create(model="rag/handbook", messages=question)
    assert answer.choices[0].message.content == streamed
    embedder = client.models.list().data[-1].id
    assert len(client.embeddings.create(model=embedder, input="hello").data[0].embedding) > 0
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="rag/nope", messages=question)
