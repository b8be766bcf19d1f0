"""Hybrid fusion variants on an evaluated collection, straight on its Qdrant Edge shard.

    RAG_ENV=dev ragplatform eval --dataset ../shared/datasets/scifact-train --split train \\
        --data-dir /tmp/evaldata --collection scifact          # once: ingest through the API
    .venv/bin/python -m benchmarks.fusion_variants --data-dir /tmp/evaldata

Queries are embedded once; every variant (fusion method, RRF k, branch weights, prefetch depth)
then runs the same 100-chunk searches, scored with the eval command's metrics. The platform's
own search path is what ``ragplatform eval`` measures; this script only explores the engine's
fusion knobs (the server must not be running on that data dir).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import DATASET, record
from ragplatform.adapters.vectorstores import qdrant_edge
from ragplatform.evaluation.beir import load
from ragplatform.evaluation.metrics import Scores, evaluate
from ragplatform.evaluation.runner import content_aliases

Variant = tuple[str, Callable[[], Any], Callable[[int], int]]


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


async def run(data_dir: Path, split: str) -> list[tuple[str, Scores]]:
    from ragplatform.adapters.embedders.sentence_transformers import LocalEmbedder
    from ragplatform.settings import EmbeddingSettings

    dataset = load(DATASET, split)
    aliases = content_aliases(dataset.corpus)
    tenant, collection = _ids(data_dir)
    embedder = await LocalEmbedder.load(EmbeddingSettings(cache_size=0))
    queries = list(dataset.queries.items())
    vectors = await embedder.embed_documents([text for _, text in queries])
    shard = next((data_dir / "vectors" / "qdrant-edge").iterdir())
    store = qdrant_edge.QdrantEdgeStore.open(shard, dimension=384, indexing_threshold_kb=20_000)
    results = []
    try:
        for name, fusion, depth in variants():
            store._fusion = fusion  # type: ignore[method-assign]  # an experiment's knob
            qdrant_edge.search_depth = depth  # type: ignore[assignment]
            run_: dict[str, dict[str, float]] = {}
            for (query_id, text), vector in zip(queries, vectors, strict=True):
                hits = await store.search(
                    tenant_id=tenant,
                    collection_ids=[collection],
                    query_text=text,
                    query_dense=vector,
                    mode="hybrid",
                    limit=100,
                )
                scores: dict[str, float] = {}
                for hit in hits:
                    doc = str(hit.payload["metadata"]["beir_id"])
                    for same in aliases.get(doc, (doc,)):
                        scores[same] = max(scores.get(same, float("-inf")), hit.score)
                run_[query_id] = scores
            results.append((name, evaluate(run_, dataset.qrels)))
            print(f"{name:<45} nDCG@10 {results[-1][1].ndcg_10:.4f}", flush=True)
    finally:
        await store.close()
        await embedder.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/evaldata"))  # noqa: S108
    parser.add_argument("--split", default="train")
    args = parser.parse_args()
    results = asyncio.run(run(args.data_dir, args.split))
    table = ["", "| Variant | nDCG@10 | Recall@10 | Recall@100 | MRR@10 |", "|---|---|---|---|---|"]
    for name, s in results:
        figures = (s.ndcg_10, s.recall_10, s.recall_100, s.mrr_10)
        table.append(f"| {name} | " + " | ".join(f"{f:.4f}" for f in figures) + " |")
    lines = [
        "collection ingested by `ragplatform eval` (200/40-token chunks), top 100 chunks per query"
        + "\n"
        + "\n".join(table)
    ]
    data = {name: s.as_dict() for name, s in results}
    record(
        "Hybrid fusion variants (SciFact train, engine level)",
        "python -m benchmarks.fusion_variants --data-dir /tmp/evaldata",
        lines,
        data,
    )


if __name__ == "__main__":
    main()
