"""Ingestion through a running server vs the raw embedder on the same chunks, same run.

.venv/bin/python -m benchmarks.ingest_bench [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from benchmarks.common import corpus, percentile, raw_embedder, record, server, tenant_key

BATCH_FILES = 20  # files per upload request, as a bulk client would send them


def document_text(row: dict[str, str]) -> str:
    """The uploaded text of an abstract: its title, a blank line, the abstract."""
    return f"{row['title']}\n\n{row['text']}".strip()


class HealthProbe(threading.Thread):
    """Hits /healthz every 50 ms and keeps the latencies."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base, self.latencies, self.stop = base, [], threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as client:
            while not self.stop.is_set():
                started = time.perf_counter()
                client.get("/healthz").raise_for_status()
                self.latencies.append((time.perf_counter() - started) * 1000)
                time.sleep(0.05)


def platform_run(rows: list[dict[str, str]]) -> dict[str, float]:
    """Upload every abstract through the API and wait until all are indexed."""
    with server() as (base, admin):
        owner = tenant_key(base, admin)
        http = httpx.Client(base_url=base, headers=owner, timeout=120)
        collection = http.post("/api/v1/collections", json={"name": "scifact"}).json()["id"]
        probe = HealthProbe(base)
        probe.start()
        started = time.perf_counter()

        def send(batch: list[dict[str, str]]) -> list[str]:
            files = [("files", (f"{r['_id']}.txt", document_text(r).encode())) for r in batch]
            response = http.post(f"/api/v1/collections/{collection}/documents", files=files)
            response.raise_for_status()
            return [str(d["id"]) for d in response.json()["documents"]]

        batches = [rows[i : i + BATCH_FILES] for i in range(0, len(rows), BATCH_FILES)]
        with ThreadPoolExecutor(2) as pool:
            ids = [doc_id for chunk in pool.map(send, batches) for doc_id in chunk]
        uploaded = time.perf_counter() - started
        while True:
            pending = http.get("/api/v1/documents", params={"status": "queued", "limit": 1}).json()
            running = http.get(
                "/api/v1/documents", params={"status": "processing", "limit": 1}
            ).json()
            if not pending["items"] and not running["items"]:
                break
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
        probe.stop.set()
        probe.join()
        chunks, failed, cursor = 0, 0, None
        while True:
            params = {"collection_id": collection, "limit": 200} | (
                {"cursor": cursor} if cursor else {}
            )
            page = http.get("/api/v1/documents", params=params).json()
            chunks += sum(d["chunk_count"] for d in page["items"])
            failed += sum(d["status"] == "failed" for d in page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                break
        http.close()
    return {
        "documents": len(ids),
        "failed": failed,
        "chunks": chunks,
        "seconds": elapsed,
        "upload_seconds": uploaded,
        "healthz_p50_ms": percentile(probe.latencies, 50),
        "healthz_p99_ms": percentile(probe.latencies, 99),
        "healthz_max_ms": max(probe.latencies),
        "healthz_samples": len(probe.latencies),
    }


def raw_run(rows: list[dict[str, str]]) -> dict[str, float]:
    """The same parse + chunk, then the embedder alone (cache off), batch 64."""
    from ragplatform.documents.chunking import chunk_document
    from ragplatform.documents.parsers import parse
    from ragplatform.settings import IngestionSettings

    async def run() -> dict[str, float]:
        embedder = await raw_embedder()
        limits = IngestionSettings()
        texts = []
        for row in rows:
            parsed = parse(document_text(row).encode(), "text/plain")
            chunks = chunk_document(
                parsed,
                count_tokens=embedder.count_tokens,
                size=limits.chunk_size_tokens,
                overlap=limits.chunk_overlap_tokens,
            )
            texts += [c.text for c in chunks]
        started = time.perf_counter()
        for start in range(0, len(texts), 64):
            await embedder.embed_documents(texts[start : start + 64])
        elapsed = time.perf_counter() - started
        await embedder.close()
        return {"chunks": len(texts), "seconds": elapsed}

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="first N abstracts only")
    args = parser.parse_args()
    rows = corpus(args.limit)
    platform = platform_run(rows)
    raw = raw_run(rows)
    platform_cps = platform["chunks"] / platform["seconds"]
    raw_cps = raw["chunks"] / raw["seconds"]
    command = "python -m benchmarks.ingest_bench" + (f" --limit {args.limit}" if args.limit else "")
    record(
        "Ingestion (SciFact corpus through the API)",
        command,
        [
            f"Platform end to end: {platform['documents']} documents, {platform['chunks']} chunks "
            f"in {platform['seconds']:.1f} s = **{platform['documents'] / platform['seconds']:.1f} "
            f"docs/s, {platform_cps:.1f} chunks/s** ({platform['failed']} failed)",
            f"Raw embedder on the same {raw['chunks']} chunks (batch 64, no cache): "
            f"{raw['seconds']:.1f} s = **{raw_cps:.1f} chunks/s**",
            f"Ratio platform / raw embedder: **{platform_cps / raw_cps:.2f}** (target ≥ 0.9)",
            f"/healthz while ingesting: p50 {platform['healthz_p50_ms']:.1f} ms, "
            f"**p99 {platform['healthz_p99_ms']:.1f} ms** (target < 50 ms), "
            f"max {platform['healthz_max_ms']:.1f} ms over {platform['healthz_samples']} probes",
        ],
        {"platform": platform, "raw": raw},
    )


if __name__ == "__main__":
    main()
