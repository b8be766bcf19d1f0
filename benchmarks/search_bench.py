"""Search through a running server (concurrency 1, 8, 32; each mode) vs raw embed + engine.

    .venv/bin/python -m benchmarks.search_bench [--limit N] [--requests R]

Each request uses a distinct SciFact query, so the query-embedding cache does not flatter the
figures. The raw baseline re-opens the same Qdrant Edge shard after the server stops and times
the engine query and the query embedding alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from benchmarks.common import (
    DATASET,
    corpus,
    percentile,
    raw_store,
    record,
    server,
    tenant_key,
)

MODES = ("hybrid", "dense", "keyword")
CONCURRENCY = (1, 8, 32)


def queries() -> list[str]:
    """SciFact train queries."""
    with (DATASET / "queries.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle]


def _ingest(http: httpx.Client, rows: list[dict[str, str]]) -> str:
    collection = http.post("/api/v1/collections", json={"name": "scifact"}).json()["id"]
    for start in range(0, len(rows), 20):
        files = [
            ("files", (f"{r['_id']}.txt", f"{r['title']}\n\n{r['text']}".encode()))
            for r in rows[start : start + 20]
        ]
        http.post(f"/api/v1/collections/{collection}/documents", files=files).raise_for_status()
    while (
        http.get("/api/v1/documents", params={"status": "queued", "limit": 1}).json()["items"]
        or (
            http.get("/api/v1/documents", params={"status": "processing", "limit": 1}).json()[
                "items"
            ]
        )
    ):
        time.sleep(0.5)
    return str(collection)


def platform_run(
    rows: list[dict[str, str]], texts: list[str], per_config: int
) -> tuple[dict, Path]:  # type: ignore[type-arg]
    results: dict[str, dict[str, float]] = {}
    with server() as (base, admin):
        owner = tenant_key(base, admin)
        http = httpx.Client(base_url=base, headers=owner, timeout=120)
        collection = _ingest(http, rows)
        cursor = 0
        for mode in MODES:
            for concurrency in CONCURRENCY:
                batch = [texts[(cursor + i) % len(texts)] for i in range(per_config)]
                cursor += per_config

                def one(query: str, mode: str = mode) -> float:
                    started = time.perf_counter()
                    response = http.post(
                        "/api/v1/search",
                        json={
                            "query": query,
                            "mode": mode,
                            "top_k": 10,
                            "collection_ids": [collection],
                        },
                    )
                    response.raise_for_status()
                    return (time.perf_counter() - started) * 1000

                started = time.perf_counter()
                with ThreadPoolExecutor(concurrency) as pool:
                    latencies = list(pool.map(one, batch))
                elapsed = time.perf_counter() - started
                results[f"{mode}@{concurrency}"] = {
                    "p50_ms": percentile(latencies, 50),
                    "p95_ms": percentile(latencies, 95),
                    "p99_ms": percentile(latencies, 99),
                    "rps": len(latencies) / elapsed,
                }
        http.close()
    return results, Path()


def raw_run(rows: list[dict[str, str]], texts: list[str], per_config: int) -> dict[str, float]:
    """Embedding one query and one engine query, in-process, on a shard with the same chunks."""

    async def run() -> dict[str, float]:
        async with raw_store(rows) as (embedder, store, chunks):
            sample = texts[:per_config]
            embed_ms: list[float] = []
            engine: dict[str, list[float]] = {m: [] for m in MODES}
            for query in sample:
                started = time.perf_counter()
                dense = await embedder.embed_query(query)
                embed_ms.append((time.perf_counter() - started) * 1000)
                for mode in MODES:
                    started = time.perf_counter()
                    await store.search(
                        tenant_id="t",
                        collection_ids=["c"],
                        query_text=query,
                        query_dense=None if mode == "keyword" else dense,
                        mode=mode,
                        limit=20,
                    )
                    engine[mode].append((time.perf_counter() - started) * 1000)
        out = {"embed_p50_ms": statistics.median(embed_ms), "chunks": chunks}
        out |= {f"engine_{m}_p50_ms": statistics.median(v) for m, v in engine.items()}
        return out

    return asyncio.run(run())


def _cell(figures: dict[str, float], concurrency: int) -> str:
    return (
        f"c={concurrency}: p50 {figures['p50_ms']:.1f} / p95 {figures['p95_ms']:.1f} / "
        f"p99 {figures['p99_ms']:.1f} ms, {figures['rps']:.1f} req/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=1000, help="abstracts to index")
    parser.add_argument("--requests", type=int, default=80, help="requests per (mode, concurrency)")
    args = parser.parse_args()
    rows, texts = corpus(args.limit), queries()
    platform, _ = platform_run(rows, texts, args.requests)
    raw = raw_run(rows, texts, args.requests)
    lines = [f"{len(rows)} abstracts ({raw['chunks']} chunks); {args.requests} queries per cell"]
    for mode in MODES:
        cells = ", ".join(_cell(platform[f"{mode}@{c}"], c) for c in CONCURRENCY)
        lines.append(f"**{mode}**: {cells}")
    for mode in MODES:
        embed = 0.0 if mode == "keyword" else raw["embed_p50_ms"]
        engine = raw[f"engine_{mode}_p50_ms"]
        measured = platform[f"{mode}@1"]["p50_ms"]
        lines.append(
            f"{mode} at c=1: platform p50 {measured:.1f} ms vs raw embed {embed:.1f} ms + "
            f"engine {engine:.2f} ms → overhead **{measured - embed - engine:.1f} ms**"
        )
    record(
        "Search (SciFact through the API)",
        f"python -m benchmarks.search_bench --limit {args.limit} --requests {args.requests}",
        lines,
        {"platform": platform, "raw": raw},
    )


if __name__ == "__main__":
    main()
