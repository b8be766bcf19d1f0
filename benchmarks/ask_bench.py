"""Answers through a running server (``/api/v1/ask``, extractive) vs the raw components.

    .venv/bin/python -m benchmarks.ask_bench [--limit N] [--requests R]

Each request asks a distinct SciFact claim (no cache hit), one at a time; streamed requests
also time the first text delta. The raw baseline, in the same run, embeds the question, runs
the engine's hybrid query and the extractive model on the same top-k chunks in process.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import httpx

from benchmarks.common import corpus, percentile, raw_store, record, server, tenant_key
from benchmarks.search_bench import _ingest, queries

TOP_K = 5


def platform_run(rows: list[dict[str, str]], texts: list[str]) -> dict[str, float]:
    """Latency of whole answers and of the first streamed delta, concurrency 1."""
    with server() as (base, admin):
        http = httpx.Client(base_url=base, headers=tenant_key(base, admin), timeout=120)
        collection = _ingest(http, rows)
        body = {"top_k": TOP_K, "collection_ids": [collection]}
        whole: list[float] = []
        for question in texts[: len(texts) // 2]:
            started = time.perf_counter()
            http.post("/api/v1/ask", json={**body, "question": question}).raise_for_status()
            whole.append((time.perf_counter() - started) * 1000)
        first: list[float] = []
        for question in texts[len(texts) // 2 :]:
            started = time.perf_counter()
            payload = {**body, "question": question, "stream": True}
            with http.stream("POST", "/api/v1/ask", json=payload) as response:
                for line in response.iter_lines():
                    if line.startswith("event: delta"):
                        first.append((time.perf_counter() - started) * 1000)
                        break
        http.close()
    return {
        "answer_p50_ms": percentile(whole, 50),
        "answer_p95_ms": percentile(whole, 95),
        "first_delta_p50_ms": percentile(first, 50),
        "first_delta_p95_ms": percentile(first, 95),
    }


def raw_run(rows: list[dict[str, str]], texts: list[str]) -> dict[str, float]:
    """Embed + hybrid engine query + extractive answer, in process, on the same chunks."""
    from ragplatform.adapters.llms.extractive import ExtractiveModel
    from ragplatform.ports import ChatPrompt, Passage

    async def run() -> dict[str, float]:
        async with raw_store(rows) as (embedder, store, _chunks):
            model = ExtractiveModel(
                embedder, min_relevance=0.3, max_sentences=4, context_tokens=4096
            )
            totals: list[float] = []
            for question in texts[: len(texts) // 2]:
                started = time.perf_counter()
                dense = await embedder.embed_query(question)
                hits = await store.search(
                    tenant_id="t",
                    collection_ids=["c"],
                    query_text=question,
                    query_dense=dense,
                    mode="hybrid",
                    limit=TOP_K,
                )
                passages = [
                    Passage(n=i + 1, chunk_id=uuid.uuid4(), text=str(h.payload["text"]))
                    for i, h in enumerate(hits)
                ]
                prompt = ChatPrompt(
                    question=question, passages=passages, messages=[], max_tokens=512
                )
                async for _delta in model.stream(prompt):
                    pass
                totals.append((time.perf_counter() - started) * 1000)
        return {"raw_answer_p50_ms": statistics.median(totals)}

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=1000, help="abstracts to index")
    parser.add_argument("--requests", type=int, default=60, help="questions (half streamed)")
    args = parser.parse_args()
    rows, texts = corpus(args.limit), queries()[: args.requests]
    platform = platform_run(rows, texts)
    raw = raw_run(rows, texts)
    ratio = platform["answer_p50_ms"] / raw["raw_answer_p50_ms"]
    lines = [
        f"{len(rows)} abstracts; {args.requests} distinct questions at concurrency 1 "
        f"(half whole, half streamed); extractive answers, top_k {TOP_K}",
        f"whole answer: p50 **{platform['answer_p50_ms']:.1f} ms**, "
        f"p95 {platform['answer_p95_ms']:.1f} ms",
        f"first streamed delta: p50 **{platform['first_delta_p50_ms']:.1f} ms**, "
        f"p95 {platform['first_delta_p95_ms']:.1f} ms",
        f"raw embed + engine + extractive on the same chunks: p50 "
        f"{raw['raw_answer_p50_ms']:.1f} ms → platform / raw = **{ratio:.2f}**",
    ]
    record(
        "Answers (SciFact through the API)",
        f"python -m benchmarks.ask_bench --limit {args.limit} --requests {args.requests}",
        lines,
        {"platform": platform, "raw": raw},
    )


if __name__ == "__main__":
    main()
