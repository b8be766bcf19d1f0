"""Shared benchmark plumbing: a real server process, machine facts, the results file."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
DATASET = ROOT.parent / "shared" / "datasets" / "scifact-train"
ADMIN_KEY = "rag_benchmark_admin_key_0123456789abcdefgh"
# The default ONNX runtime exports the model at a first start: once for every benchmark
# process and server, not once per temp data dir (the export is never timed).
EXPORTS = Path(tempfile.gettempdir()) / "ragplatform-bench-exports"


def backend() -> str:
    """The vector backend under test: ``BENCH_BACKEND=qdrant|milvus`` (default qdrant)."""
    return os.environ.get("BENCH_BACKEND", "qdrant")


def corpus(limit: int | None = None) -> list[dict[str, str]]:
    """SciFact abstracts (``_id``, ``title``, ``text``)."""
    rows = []
    with (DATASET / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            rows.append(json.loads(line))
            if limit and len(rows) >= limit:
                break
    return rows


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def machine() -> str:
    """A one-line description of this machine and the versions in use."""
    cpus = os.cpu_count()
    return (
        f"{platform.machine()}, {cpus} CPUs, Python {platform.python_version()}, "
        f"ragplatform {version('ragplatform')}, torch {version('torch')}, "
        f"sentence-transformers {version('sentence-transformers')}, "
        f"qdrant-edge-py {version('qdrant-edge-py')}, pymilvus {version('pymilvus')}, "
        f"milvus-lite {version('milvus-lite')}, vector backend **{backend()}**"
    )


@contextlib.contextmanager
def server(**env_extra: str) -> Iterator[tuple[str, dict[str, str]]]:
    """A migrated ``ragplatform serve`` on a temp data dir; yields (base URL, admin headers)."""
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
        env |= {
            "RAG_ENV": "test",
            "RAG_AUTH__SECRET_KEY": "benchmark-secret-key-0123456789abcdefghijklmnop",
            "RAG_DATA_DIR": str(Path(tmp) / "data"),
            "RAG_ADMIN_API_KEY": ADMIN_KEY,
            "RAG_RATE_LIMITS__ENABLED": "false",
            "RAG_LOG__LEVEL": "WARNING",
            "RAG_VECTOR__BACKEND": backend(),
            "RAG_EMBEDDING__EXPORT_DIR": str(EXPORTS),
        } | env_extra
        run = [sys.executable, "-m", "ragplatform"]
        subprocess.run([*run, "migrate"], env=env, check=True, capture_output=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen(
            [*run, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                time.sleep(0.2)
            yield base, {"Authorization": f"Bearer {ADMIN_KEY}"}
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def tenant_key(base: str, admin: dict[str, str], slug: str = "bench") -> dict[str, str]:
    """Headers with an owner key of a new tenant."""
    tenant = httpx.post(f"{base}/api/v1/tenants", json={"slug": slug, "name": slug}, headers=admin)
    tenant.raise_for_status()
    key = httpx.post(
        f"{base}/api/v1/api-keys",
        json={"name": "bench", "role": "owner", "tenant_id": tenant.json()["id"]},
        headers=admin,
    )
    key.raise_for_status()
    return {"Authorization": f"Bearer {key.json()['key']}"}


def record(title: str, command: str, lines: list[str], data: dict[str, Any]) -> None:
    """Append a dated section to RESULTS.md and print it."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = "\n".join(
        [
            f"## {title} — {stamp}",
            "",
            f"- Machine: {machine()}",
            f"- Command: `{command}`",
            *[f"- {line}" for line in lines],
            "",
            "<details><summary>raw</summary>",
            "",
            "```json",
            json.dumps(data, indent=2),
            "```",
            "",
            "</details>",
            "",
        ]
    )
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nEach section is one run; newest last.\n\n")
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write(section + "\n")
    print(section)


async def raw_embedder() -> Any:
    """The platform's configured embedder (the default runtime), cache off: the raw baseline."""
    from ragplatform.adapters.embedders.factory import build_embedder
    from ragplatform.settings import EmbeddingSettings

    return await build_embedder(EmbeddingSettings(cache_size=0, export_dir=EXPORTS))


@contextlib.asynccontextmanager
async def raw_store(rows: list[dict[str, str]]) -> AsyncIterator[tuple[Any, Any, int]]:
    """The raw components on the same chunks as the platform: (embedder, Qdrant Edge, chunks).

    Chunked exactly as ingestion does, embedded without cache, upserted into a temp shard.
    """
    from ragplatform.adapters.vectorstores.factory import build_vector_store
    from ragplatform.documents.chunking import chunk_document, chunk_id
    from ragplatform.documents.parsers import parse
    from ragplatform.ports import ChunkRecord
    from ragplatform.settings import IngestionSettings, Settings, VectorSettings

    embedder = await raw_embedder()
    limits = IngestionSettings()
    records: list[ChunkRecord] = []
    for row in rows:
        parsed = parse(f"{row['title']}\n\n{row['text']}".encode(), "text/plain")
        for chunk in chunk_document(
            parsed,
            count_tokens=embedder.count_tokens,
            size=limits.chunk_size_tokens,
            overlap=limits.chunk_overlap_tokens,
        ):
            records.append(
                ChunkRecord(
                    id=chunk_id(row["_id"], 1, chunk.index),
                    tenant_id="t",
                    collection_id="c",
                    document_id=row["_id"],
                    document_version=1,
                    chunk_index=chunk.index,
                    text=chunk.text,
                    dense=[],
                )
            )
    vectors = await embedder.embed_documents([r.text for r in records])
    records = [
        ChunkRecord(**{**r.__dict__, "dense": v}) for r, v in zip(records, vectors, strict=True)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        # the platform's own factory: Qdrant Edge or Milvus Lite in a temp data dir
        settings = Settings(env="dev", data_dir=Path(tmp), vector=VectorSettings(backend=backend()))
        store = await build_vector_store(settings, model=embedder.model_name, dimension=384)
        try:
            for start in range(0, len(records), 256):
                await store.upsert(tenant_id="t", chunks=records[start : start + 256])
            yield embedder, store, len(records)
        finally:
            await store.close()
            await embedder.close()
