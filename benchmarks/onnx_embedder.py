"""The ONNX Runtime int8 embedder against the PyTorch one: speed and retrieval quality (issue 6).

    .venv/bin/python -m benchmarks.onnx_embedder [--rounds 5] [--docs 256] [--queries 40]

(a) Speed: both embedders as the platform runs them (``LocalEmbedder`` and ``OnnxEmbedder``,
batch 64, no cache) on SciFact abstracts, alternating round by round (the order flips each
round): documents/s, and the latency of single queries. Medians over the rounds and the ratio.
(b) Quality: every SciFact train abstract (title + " " + text, truncated by the model at 256
tokens) embedded by each runtime, exact cosine search in numpy, nDCG@10 (and the other
metrics) with the eval command's metric code. Corpus embeddings are cached under
``/tmp/ragplatform-bench-onnx`` (with the ONNX export), so a rerun only measures speed.

Meets the issue's bar when the nDCG@10 drop is at most 0.01 and documents/s at least 1.8x.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import DATASET, record
from ragplatform.adapters.embedders.onnx import OnnxEmbedder
from ragplatform.adapters.embedders.sentence_transformers import LocalEmbedder
from ragplatform.evaluation.beir import Dataset, load
from ragplatform.evaluation.metrics import Scores, evaluate
from ragplatform.settings import EmbeddingSettings

WORK = Path("/tmp/ragplatform-bench-onnx")  # noqa: S108 - a cache of derived data
MAX_NDCG_DROP = 0.01
MIN_SPEEDUP = 1.8
Embedders = dict[str, Any]


async def _embedders() -> Embedders:
    torch = await LocalEmbedder.load(EmbeddingSettings(runtime="torch", cache_size=0))
    started = time.perf_counter()
    onnx = await OnnxEmbedder.load(
        EmbeddingSettings(runtime="onnx", cache_size=0), data_dir=WORK / "data"
    )
    print(f"ONNX model ready in {time.perf_counter() - started:.1f} s", flush=True)
    return {"torch": torch, "onnx": onnx}


async def speed(
    embedders: Embedders, texts: list[str], queries: list[str], rounds: int
) -> dict[str, Any]:
    """Interleaved rounds: documents/s and single-query latencies per runtime."""
    docs_per_s: dict[str, list[float]] = {name: [] for name in embedders}
    latency_ms: dict[str, list[float]] = {name: [] for name in embedders}
    for embedder in embedders.values():  # warm up: first calls allocate
        await embedder.embed_documents(texts[:64], cached=False)
        await embedder.embed_query(queries[0])
    for index in range(rounds):
        order = list(embedders) if index % 2 == 0 else list(reversed(embedders))
        for name in order:
            embedder = embedders[name]
            started = time.perf_counter()
            await embedder.embed_documents(texts, cached=False)
            docs_per_s[name].append(len(texts) / (time.perf_counter() - started))
            for query in queries:
                started = time.perf_counter()
                await embedder.embed_query(query)
                latency_ms[name].append((time.perf_counter() - started) * 1000)
        print(
            f"round {index + 1}: "
            + ", ".join(f"{n} {docs_per_s[n][-1]:.1f} docs/s" for n in embedders),
            flush=True,
        )
    return {
        name: {
            "docs_per_s_median": statistics.median(docs_per_s[name]),
            "docs_per_s_rounds": [round(v, 2) for v in docs_per_s[name]],
            "query_ms_median": statistics.median(latency_ms[name]),
            "query_ms_p90": float(np.percentile(latency_ms[name], 90)),
        }
        for name in embedders
    }


def _cache_key(name: str, texts: list[str], passes: int) -> str:
    digest = hashlib.sha256("\n".join(texts).encode())
    digest.update(f"{name} torch {version('torch')} ort {version('onnxruntime')}".encode())
    digest.update(f" {passes} per pass".encode())  # int8 vectors depend on their pass
    if name == "onnx":  # the export's directory name carries the source weights' digest
        digest.update(
            ",".join(sorted(p.name for p in (WORK / "data" / "models").iterdir())).encode()
        )
    return digest.hexdigest()[:16]


async def _vectors(embedder: Any, name: str, texts: list[str]) -> Any:
    """Embeddings of ``texts`` as a float32 matrix, cached on disk by content and versions."""
    path = WORK / f"{name}-{_cache_key(name, texts, embedder.micro_batch)}.npy"
    if path.exists():
        return np.load(path)
    rows: list[list[float]] = []
    started = time.perf_counter()
    for start in range(0, len(texts), 512):
        rows += await embedder.embed_documents(texts[start : start + 512], cached=False)
        print(
            f"{name}: {len(rows)}/{len(texts)} ({time.perf_counter() - started:.0f} s)", flush=True
        )
    matrix = np.asarray(rows, dtype=np.float32)
    partial = path.with_suffix(f".{os.getpid()}.npy")
    np.save(partial, matrix)
    partial.replace(path)
    return matrix


def _scores(dataset: Dataset, docs: Any, queries: Any) -> Scores:
    """Exact cosine search (vectors are unit length): the top 100 documents per query."""
    ids = [doc.id for doc in dataset.corpus]
    similarity = queries @ docs.T
    top = np.argsort(-similarity, axis=1)[:, :100]
    run = {
        query_id: {ids[j]: float(similarity[i, j]) for j in top[i]}
        for i, query_id in enumerate(dataset.queries)
    }
    return evaluate(run, dataset.qrels)


async def quality(embedders: Embedders, dataset: Dataset) -> dict[str, Any]:
    """nDCG@10 and friends per runtime, and how close the two runtimes' vectors are."""
    texts = [doc.content() for doc in dataset.corpus]
    query_texts = list(dataset.queries.values())
    docs = {name: await _vectors(e, name, texts) for name, e in embedders.items()}
    queries = {name: await _vectors(e, name, query_texts) for name, e in embedders.items()}
    doc_cos = (docs["torch"] * docs["onnx"]).sum(axis=1)
    query_cos = (queries["torch"] * queries["onnx"]).sum(axis=1)
    return {
        "scores": {name: _scores(dataset, docs[name], queries[name]) for name in embedders},
        "cosine": {
            "documents_min": float(doc_cos.min()),
            "documents_mean": float(doc_cos.mean()),
            "queries_min": float(query_cos.min()),
            "queries_mean": float(query_cos.mean()),
            "queries_below_0.99": int((query_cos < 0.99).sum()),
            "documents_below_0.99": int((doc_cos < 0.99).sum()),
        },
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Both measurements on freshly loaded embedders."""
    dataset = load(DATASET, "train")
    embedders = await _embedders()
    try:
        load_before = os.getloadavg()[0]
        texts = [doc.content() for doc in dataset.corpus[: args.docs]]
        queries = list(dataset.queries.values())[: args.queries]
        timing = await speed(embedders, texts, queries, args.rounds)
        load_after = os.getloadavg()[0]
        figures = await quality(embedders, dataset)
        passes = {name: embedder.micro_batch for name, embedder in embedders.items()}
    finally:
        for embedder in embedders.values():
            await embedder.close()
    return {
        "speed": timing,
        "load_average": [load_before, load_after],
        "corpus": len(dataset.corpus),
        "queries": len(dataset.queries),
        "passes": passes,
        **figures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved speed rounds")
    parser.add_argument("--docs", type=int, default=256, help="abstracts per speed round")
    parser.add_argument("--queries", type=int, default=40, help="single queries per round")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    result = asyncio.run(run(args))
    torch, onnx = result["speed"]["torch"], result["speed"]["onnx"]
    speedup = onnx["docs_per_s_median"] / torch["docs_per_s_median"]
    query_speedup = torch["query_ms_median"] / onnx["query_ms_median"]
    ndcg = {name: s.ndcg_10 for name, s in result["scores"].items()}
    drop = ndcg["torch"] - ndcg["onnx"]
    cos = result["cosine"]
    meets = drop <= MAX_NDCG_DROP and speedup >= MIN_SPEEDUP
    lines = [
        f"Speed ({args.rounds} interleaved rounds of {args.docs} SciFact abstracts, batch 64, "
        f"no cache; load average {result['load_average'][0]:.1f} → "
        f"{result['load_average'][1]:.1f} on 2 cores): torch "
        f"{torch['docs_per_s_median']:.1f} docs/s vs ONNX int8 {onnx['docs_per_s_median']:.1f} "
        f"docs/s → **{speedup:.2f}x** (target ≥ {MIN_SPEEDUP}x)",
        f"Single query (median of {args.queries}x{args.rounds}): torch "
        f"{torch['query_ms_median']:.1f} ms vs ONNX int8 {onnx['query_ms_median']:.1f} ms → "
        f"{query_speedup:.2f}x",
        f"Dense nDCG@10, SciFact train ({result['queries']} queries, {result['corpus']} "
        f"abstracts, exact cosine): torch {ndcg['torch']:.4f} vs ONNX int8 {ndcg['onnx']:.4f} "
        f"→ drop **{drop:+.4f}** (target ≤ {MAX_NDCG_DROP})",
        f"Cosine ONNX vs torch: abstracts min {cos['documents_min']:.4f} / mean "
        f"{cos['documents_mean']:.4f}; queries min {cos['queries_min']:.4f} / mean "
        f"{cos['queries_mean']:.4f} ({cos['queries_below_0.99']} of {result['queries']} "
        "below 0.99)",
        "Meets both thresholds: "
        + ("**yes**" if meets else "**no**")
        + f" (forward passes of {result['passes']['onnx']} text(s) on ONNX, "
        + f"{result['passes']['torch']} on torch: each runtime's default)",
    ]
    data = {
        "speed": result["speed"],
        "speedup_docs": round(speedup, 3),
        "speedup_query": round(query_speedup, 3),
        "scores": {name: s.as_dict() for name, s in result["scores"].items()},
        "ndcg_drop": round(drop, 4),
        "cosine": cos,
        "load_average": result["load_average"],
        "meets_thresholds": meets,
        "texts_per_forward_pass": result["passes"],
    }
    record("ONNX int8 embedder", "python -m benchmarks.onnx_embedder", lines, data)


if __name__ == "__main__":
    main()
