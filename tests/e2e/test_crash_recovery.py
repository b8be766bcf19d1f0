"""kill -9 a real server in the middle of ingestion, restart it: every job finishes, with no
lost and no duplicated chunks."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import httpx
import pytest

from ragplatform.adapters.vectorstores.qdrant_edge import QdrantEdgeStore
from tests.e2e.test_server import cli, free_port, server_env, start_server

pytestmark = pytest.mark.e2e
ADMIN = "rag_crash_test_admin_key_0123456789abcdef"
CORPUS = (
    Path(__file__).resolve().parents[3] / "shared" / "datasets" / "scifact-train" / "corpus.jsonl"
)


def _abstracts(count: int) -> list[tuple[str, str]]:
    if CORPUS.exists():
        rows = [json.loads(line) for line in CORPUS.open(encoding="utf-8")][:count]
        return [(f"{r['_id']}.txt", f"{r.get('title', '')}\n\n{r['text']}") for r in rows]
    return [
        (f"doc{i}.txt", f"Document {i}. " + f"Sentence about topic {i}. " * 40)
        for i in range(count)
    ]


def test_kill_9_mid_ingestion_then_restart_finishes_every_job(tmp_path: Path) -> None:
    env = server_env(
        tmp_path / "data", RAG_ADMIN_API_KEY=ADMIN, RAG_RATE_LIMITS__PER_KEY="100000/minute"
    )
    assert cli("migrate", env=env).returncode == 0
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    admin = {"Authorization": f"Bearer {ADMIN}"}
    _, proc = start_server(env, port)
    try:
        tenant = httpx.post(
            f"{base}/api/v1/tenants", json={"slug": "acme", "name": "Acme"}, headers=admin
        ).json()
        key = httpx.post(
            f"{base}/api/v1/api-keys",
            json={"name": "owner", "role": "owner", "tenant_id": tenant["id"]},
            headers=admin,
        ).json()["key"]
        owner = {"Authorization": f"Bearer {key}"}
        collection = httpx.post(
            f"{base}/api/v1/collections", json={"name": "c"}, headers=owner
        ).json()["id"]
        doc_ids: list[str] = []
        docs = _abstracts(120)
        for start in range(0, len(docs), 20):
            files = [("files", (name, text.encode())) for name, text in docs[start : start + 20]]
            response = httpx.post(
                f"{base}/api/v1/collections/{collection}/documents",
                files=files,
                headers=owner,
                timeout=60,
            )
            assert response.status_code == 202, response.text
            doc_ids += [d["id"] for d in response.json()["documents"]]
        # Wait until ingestion is under way but not finished, then kill the process hard.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            ready = httpx.get(
                f"{base}/api/v1/documents", params={"status": "ready", "limit": 200}, headers=owner
            ).json()["items"]
            if ready:
                break
            time.sleep(0.05)
        assert 0 < len(ready) < len(doc_ids), "the kill must land mid-ingestion"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    _, proc = start_server(env, port)  # the same data dir: interrupted jobs resume
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            docs_now = [
                httpx.get(f"{base}/api/v1/documents/{d}", headers=owner).json() for d in doc_ids
            ]
            if all(d["status"] in ("ready", "failed") for d in docs_now):
                break
            time.sleep(0.5)
        assert [d["status"] for d in docs_now] == ["ready"] * len(doc_ids)
        expected = 0
        for doc in docs_now:
            chunks = httpx.get(
                f"{base}/api/v1/documents/{doc['id']}/chunks", params={"limit": 200}, headers=owner
            ).json()["items"]
            assert [c["index"] for c in chunks] == list(range(doc["chunk_count"])), doc["id"]
            expected += doc["chunk_count"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)

    # With the server stopped, count the points actually stored: nothing lost, nothing twice.
    shard = next((tmp_path / "data" / "vectors" / "qdrant-edge").iterdir())
    store = QdrantEdgeStore.open(shard, dimension=384, indexing_threshold_kb=20_000)
    try:
        stored = asyncio.run(store.count(tenant_id=tenant["id"]))
    finally:
        asyncio.run(store.close())
    assert stored == expected
