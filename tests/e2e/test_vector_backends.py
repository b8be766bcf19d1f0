"""The whole API on each vector backend: a real server, ingest -> search -> ask -> delete.

Embedded Qdrant Edge (the default) and Milvus Lite (``RAG_VECTOR__BACKEND=milvus``) run
the same path; ``/readyz`` pings the store and names the backend.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_server import cli, free_port, server_env, start_server

pytestmark = pytest.mark.e2e
ADMIN = "rag_backend_test_admin_key_0123456789abcdef"
DOCS = {
    "remote": "Employees may work from home up to three days per week with manager approval.",
    "printer": "Okonkwo signed off the lobby printer toner order for the third floor.",
}


@pytest.fixture(params=["qdrant", "milvus"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base URL, backend) of a server on a fresh data dir with that vector backend."""
    env = server_env(tmp_path / "data", RAG_ADMIN_API_KEY=ADMIN, RAG_VECTOR__BACKEND=request.param)
    assert cli("migrate", env=env).returncode == 0
    base, proc = start_server(env, free_port(), stderr=subprocess.PIPE)
    try:
        yield base, request.param
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=60)
        assert "Traceback" not in stderr, stderr[-2000:]


def _wait_ready(client: httpx.Client, document_id: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = client.get(f"/api/v1/documents/{document_id}").json()["status"]
        if status in ("ready", "failed"):
            assert status == "ready"
            return
        time.sleep(0.1)
    raise AssertionError(f"document {document_id} was not indexed in time")


def test_ingest_search_ask_delete(served: tuple[str, str]) -> None:
    base, backend = served
    ready = httpx.get(f"{base}/readyz", timeout=30)
    assert ready.status_code == 200, ready.text
    check = ready.json()["checks"]["vector_store"]
    assert (check["status"], check["backend"]) == ("ok", backend)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    tenant = httpx.post(f"{base}/api/v1/tenants", json={"slug": "acme", "name": "A"}, headers=admin)
    key = httpx.post(
        f"{base}/api/v1/api-keys",
        json={"name": "e2e", "role": "editor", "tenant_id": tenant.json()["id"]},
        headers=admin,
    ).json()["key"]
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as client:
        collection = client.post("/api/v1/collections", json={"name": "handbook"}).json()["id"]
        ids = {}
        for name, text in DOCS.items():
            body = {"title": name, "text": text, "metadata": {"topic": name}}
            response = client.post(f"/api/v1/collections/{collection}/documents", json=body)
            assert response.status_code == 202, response.text
            ids[name] = response.json()["documents"][0]["id"]
        for document_id in ids.values():
            _wait_ready(client, document_id)

        def search(query: str, **extra: object) -> list[str]:
            response = client.post("/api/v1/search", json={"query": query, "top_k": 5, **extra})
            assert response.status_code == 200, response.text
            return [hit["title"] for hit in response.json()["hits"]]

        assert search("Okonkwo", mode="keyword") == ["printer"]
        assert search("Is telecommuting permitted?", mode="dense")[0] == "remote"
        assert search("telecommuting Okonkwo")[:2] in (["remote", "printer"], ["printer", "remote"])
        assert search("work", filter={"field": "topic", "eq": "printer"}, mode="dense") == [
            "printer"
        ]
        answer = client.post("/api/v1/ask", json={"question": "How many days from home?"})
        assert answer.status_code == 200, answer.text
        assert "three days per week" in answer.json()["answer"]
        assert answer.json()["citations"][0]["title"] == "remote"

        assert client.delete(f"/api/v1/documents/{ids['remote']}").status_code == 204
        assert "remote" not in search("work from home three days", mode="dense")
        assert search("Okonkwo", mode="keyword") == ["printer"]
