"""Hybrid fusion variants on an evaluated collection, straight on its Qdrant Edge shard.

    RAG_ENV=dev ragplatform eval --dataset ../shared/datasets/scifact-train --split train \\
        --data-dir /tmp/evaldata --collection scifact          # once: ingest through the API
    .venv/bin/python -m benchmarks.fusion_variants --data-dir /tmp/evaldata

Queries are embedded once; every variant (fusion method, RRF k, branch weights, prefetch depth)
then runs the same 100-chunk searches, scored with the eval command's metrics. ``--weighted``
adds chunk-level DBSF with branch weights (the engine's DBSF takes none): each branch is
searched alone at the engine's depth and fused in Python with the engine's formula; weights
1 / 1 must reproduce the engine's own DBSF, which the run checks. The platform's
own search path is what ``ragplatform eval`` measures; this script only explores the engine's
fusion knobs (the server must not be running on that data dir).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.common import DATASET, raw_embedder, record
from ragplatform.adapters.vectorstores import qdrant_edge
from ragplatform.evaluation.beir import load
from ragplatform.evaluation.metrics import Scores, evaluate, ndcg_at, ranked
from ragplatform.evaluation.runner import content_aliases

Variant = tuple[str, Callable[[], Any], Callable[[int], int]]
CHECKS: list[str] = []
PER_QUERY: dict[str, list[float]] = {}  # nDCG@10 of every judged query, for paired errors
WEIGHTS = ((1.0, 1.0), (1.0, 0.9), (1.0, 0.8), (1.0, 0.7), (1.0, 0.6), (0.9, 1.0), (0.8, 1.0))


def variants() -> list[Variant]:
    """(name, fusion factory, prefetch depth per limit)."""
    fusion: Any = qdrant_edge.Fusion
    default_depth = qdrant_edge.search_depth
    out: list[Variant] = [("DBSF (default)", fusion.Dbsf, default_depth)]
    for k in (10, 30, 60, 100):
        out.append((f"RRF k={k}", lambda k=k: fusion.Rrf(k=k), default_depth))
    for dense, sparse in ((1.0, 2.0), (2.0, 1.0), (1.0, 1.5), (1.5, 1.0)):
        name = f"RRF k=60 weights dense {dense:g} / bm25 {sparse:g}"
        out.append(
            (name, lambda d=dense, s=sparse: fusion.Rrf(k=60, weights=[d, s]), default_depth)
        )
    for depth in (100, 200):
        out.append((f"DBSF depth {depth}", fusion.Dbsf, lambda _limit, d=depth: d))
    return out


def _ids(data_dir: Path) -> tuple[str, str]:
    with sqlite3.connect(data_dir / "ragplatform.db") as db:
        tenant = db.execute("SELECT id FROM tenants WHERE slug = 'eval'").fetchone()[0]
        collection = db.execute(
            "SELECT id FROM collections WHERE tenant_id = ? AND name = 'scifact'", (tenant,)
        ).fetchone()[0]

    def dashed(value: str) -> str:
        import uuid

        return str(uuid.UUID(value))

    return dashed(tenant), dashed(collection)


def dbsf(scores: list[float]) -> list[float]:
    """Qdrant's distribution-based normalisation: (s - (mean - 3 sd)) / 6 sd."""
    if not scores:
        return []
    mean = sum(scores) / len(scores)
    sd = (sum((s - mean) ** 2 for s in scores) / len(scores)) ** 0.5
    return [1.0] * len(scores) if sd == 0 else [(s - (mean - 3 * sd)) / (6 * sd) for s in scores]


async def weighted(store: Any, search: dict[str, Any], weights: tuple[float, float]) -> list[Any]:
    """Chunk-level DBSF of the dense and BM25 branches, each searched alone, with weights."""
    depth = qdrant_edge.search_depth(search["limit"])
    fused: dict[Any, float] = {}
    hits: dict[Any, Any] = {}
    for mode, weight in zip(("dense", "keyword"), weights, strict=True):
        branch = await store.search(**{**search, "mode": mode, "limit": depth})
        for hit, value in zip(branch, dbsf([h.score for h in branch]), strict=True):
            fused[hit.id] = fused.get(hit.id, 0.0) + weight * value
            hits[hit.id] = hit
    ranked = sorted(fused, key=lambda chunk: -fused[chunk])[: search["limit"]]
    return [dataclasses.replace(hits[chunk], score=fused[chunk]) for chunk in ranked]


async def run(
    data_dir: Path, split: str, with_weighted: bool = False, only_weighted: bool = False
) -> list[tuple[str, Scores]]:
    dataset = load(DATASET, split)
    aliases = content_aliases(dataset.corpus)
    tenant, collection = _ids(data_dir)
    embedder = await raw_embedder()  # the default runtime, as `ragplatform eval` ingested with
    queries = list(dataset.queries.items())
    vectors = await embedder.embed_documents([text for _, text in queries])
    shard = next((data_dir / "vectors" / "qdrant-edge").iterdir())
    store = qdrant_edge.QdrantEdgeStore.open(shard, dimension=384, indexing_threshold_kb=20_000)
    results = []
    engine_default = qdrant_edge.search_depth
    runs: list[tuple[str, Callable[[dict[str, Any]], Awaitable[list[Any]]]]] = []
    for name, fusion, depth in variants()[: 1 if only_weighted else None]:

        async def engine(search: dict[str, Any], fusion: Any = fusion, depth: Any = depth) -> Any:
            store._fusion = fusion  # type: ignore[method-assign]  # an experiment's knob
            qdrant_edge.search_depth = depth  # type: ignore[assignment]
            return await store.search(**search)

        runs.append((name, engine))
    if with_weighted:
        for pair in WEIGHTS:

            async def python(search: dict[str, Any], pair: Any = pair) -> Any:
                store._fusion = fusion_default  # type: ignore[method-assign]
                qdrant_edge.search_depth = engine_default  # type: ignore[assignment]
                return await weighted(store, search, pair)

            runs.append(
                (f"chunk-level DBSF in Python, dense {pair[0]:g} / bm25 {pair[1]:g}", python)
            )
    fusion_default = store._fusion
    tops: dict[str, list[list[Any]]] = {}
    try:
        for name, searcher in runs:
            run_: dict[str, dict[str, float]] = {}
            tops[name] = []
            for (query_id, text), vector in zip(queries, vectors, strict=True):
                hits = await searcher(
                    {
                        "tenant_id": tenant,
                        "collection_ids": [collection],
                        "query_text": text,
                        "query_dense": vector,
                        "mode": "hybrid",
                        "limit": 100,
                    }
                )
                tops[name].append([hit.id for hit in hits[:10]])
                scores: dict[str, float] = {}
                for hit in hits:
                    doc = str(hit.payload["metadata"]["beir_id"])
                    for same in aliases.get(doc, (doc,)):
                        scores[same] = max(scores.get(same, float("-inf")), hit.score)
                run_[query_id] = scores
            results.append((name, evaluate(run_, dataset.qrels)))
            PER_QUERY[name] = [
                ndcg_at(ranked(run_.get(q, {})), grades, 10) for q, grades in dataset.qrels.items()
            ]
            print(f"{name:<45} nDCG@10 {results[-1][1].ndcg_10:.4f}", flush=True)
        if with_weighted:
            engine_top = tops["DBSF (default)"]
            python_top = tops["chunk-level DBSF in Python, dense 1 / bm25 1"]
            same = sum(a == b for a, b in zip(engine_top, python_top, strict=True))
            CHECKS.append(
                f"Python DBSF 1 / 1 vs the engine's DBSF: identical top 10 chunks for "
                f"{same}/{len(engine_top)} queries"
            )
            print(CHECKS[-1], flush=True)
    finally:
        await store.close()
        await embedder.close()
    return results


def paired(values: list[float], baseline: list[float]) -> tuple[float, float]:
    """Mean per-query difference and its standard error (the same queries in both)."""
    diffs = [a - b for a, b in zip(values, baseline, strict=True)]
    mean = sum(diffs) / len(diffs)
    if len(diffs) < 2:
        return mean, 0.0
    var = sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1)
    return mean, (var / len(diffs)) ** 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/evaldata"))  # noqa: S108
    parser.add_argument("--split", default="train")
    parser.add_argument("--weighted", action="store_true", help="add weighted DBSF in Python")
    parser.add_argument("--only-weighted", action="store_true", help="skip the engine grid")
    args = parser.parse_args()
    results = asyncio.run(
        run(args.data_dir, args.split, args.weighted or args.only_weighted, args.only_weighted)
    )
    table = [
        "",
        "| Variant | nDCG@10 | vs DBSF (default) ± paired SE | Recall@10 | Recall@100 | MRR@10 |",
        "|---|---|---|---|---|---|",
    ]
    data = {}
    for name, s in results:
        delta, se = paired(PER_QUERY[name], PER_QUERY["DBSF (default)"])
        data[name] = {**s.as_dict(), "delta": round(delta, 4), "paired_se": round(se, 4)}
        cells = [f"{s.ndcg_10:.4f}", f"{delta:+.4f} ± {se:.4f}"]
        cells += [f"{f:.4f}" for f in (s.recall_10, s.recall_100, s.mrr_10)]
        table.append(f"| {name} | " + " | ".join(cells) + " |")
    lines = [
        "collection ingested by `ragplatform eval` (200/40-token chunks), top 100 chunks per query"
        + "\n"
        + "\n".join(table)
    ]
    lines[:0] = CHECKS
    record(
        "Hybrid fusion variants (SciFact train, engine level)",
        "python -m benchmarks.fusion_variants --data-dir /tmp/evaldata"
        + (" --only-weighted" if args.only_weighted else " --weighted" if args.weighted else ""),
        lines,
        data,
    )


if __name__ == "__main__":
    main()
