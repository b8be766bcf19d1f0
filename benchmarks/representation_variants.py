"""Document representation variants on SciFact, straight on Qdrant Edge (no server).

    .venv/bin/python -m benchmarks.representation_variants [--variants NAME ...] [--limit N]

Each variant chunks the corpus its own way (chunk size/overlap, where the title goes, what the
keyword index sees), embeds the chunks with the platform's MiniLM embedder (vectors cached on
disk by text, so variants share work), indexes them in a fresh Qdrant Edge shard and runs every
train query in hybrid, dense and keyword mode (top 100 chunks, a document scored by its best
chunk), scored with the eval command's metrics. ``ragplatform eval`` measures the platform's
own path; this script explores representations quickly.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import pickle
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import DATASET, record
from ragplatform.evaluation.beir import Doc, load
from ragplatform.evaluation.metrics import Scores, evaluate
from ragplatform.evaluation.runner import content_aliases

CACHE = Path(tempfile.gettempdir()) / "ragplatform-repr-cache.pkl"
MODES = ("hybrid", "dense", "keyword")


@dataclass(frozen=True)
class Variant:
    """How a document becomes indexed chunks."""

    name: str
    size: int = 200
    overlap: int = 40
    # inline: "title text" is the document (what BEIR indexes); context: the body is chunked and
    # every chunk is indexed as "title\n\nchunk" (stored text stays the chunk).
    title: str = "inline"
    avg_len: float | None = None
    k: float | None = None
    b: float | None = None


VARIANTS = {
    v.name: v
    for v in (
        Variant("baseline 200/40 inline"),
        Variant("256/32 inline", size=256, overlap=32),
        Variant("200/40 title context", title="context"),
        Variant("256/32 title context", size=256, overlap=32, title="context"),
        Variant("128/32 title context", size=128, overlap=32, title="context"),
        Variant("baseline avg_len 120", avg_len=120.0),
        Variant("baseline avg_len 60", avg_len=60.0),
        Variant("baseline k1=0.9 b=0.4", k=0.9, b=0.4),
        Variant("baseline k1=1.5 b=0.9", k=1.5, b=0.9),
        Variant("title context k1=0.9 b=0.4", title="context", k=0.9, b=0.4),
    )
}


class VectorCache:
    """Dense vectors by text hash, persisted between runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, np.ndarray] = {}
        if path.exists():
            self.data = pickle.loads(path.read_bytes())  # noqa: S301 - our own file

    async def embed(self, embedder: Any, texts: list[str]) -> list[list[float]]:
        keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]  # noqa: S324 - a cache key
        todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in self.data}
        items = list(todo.items())
        for start in range(0, len(items), 512):
            part = items[start : start + 512]
            vectors = await embedder.embed_documents([t for _, t in part])
            for (key, _), vector in zip(part, vectors, strict=True):
                self.data[key] = np.asarray(vector, dtype=np.float32)
            print(f"  embedded {min(start + 512, len(items))}/{len(items)}", flush=True)
        if items:
            self.path.write_bytes(pickle.dumps(self.data))
        return [self.data[k].tolist() for k in keys]


def chunks_of(doc: Doc, variant: Variant, count_tokens: Any) -> list[tuple[str, str]]:
    """(stored text, indexed text) per chunk."""
    from ragplatform.documents.chunking import chunk_document
    from ragplatform.documents.parsed import ParsedDocument, Section

    body = doc.content() if variant.title == "inline" else doc.text
    parsed = ParsedDocument(sections=[Section(body)], title=doc.title)
    out = []
    for chunk in chunk_document(
        parsed, count_tokens=count_tokens, size=variant.size, overlap=variant.overlap
    ):
        indexed = chunk.text
        if variant.title == "context" and doc.title:
            indexed = f"{doc.title}\n\n{chunk.text}"
        out.append((chunk.text, indexed))
    return out


def shard_chunk(  # noqa: PLR0917 - a record's fields
    key: str, document_id: str, index: int, text: str, dense: list[float], payload: dict[str, Any]
) -> Any:
    """A chunk for a throw-away benchmark shard (tenant "t", collection "c")."""
    from ragplatform.ports import ChunkRecord

    return ChunkRecord(
        id=uuid.uuid5(uuid.NAMESPACE_URL, key),
        tenant_id="t",
        collection_id="c",
        document_id=document_id,
        document_version=1,
        chunk_index=index,
        text=text,
        dense=dense,
        payload=payload,
    )


def bm25_encoder(variant: Variant) -> Any:
    """The platform's BM25 encoder with the variant's parameters."""
    from qdrant_edge import Bm25, Bm25Config

    from ragplatform.adapters.vectorstores.bm25 import DEFAULT_AVG_LEN, Bm25Encoder

    encoder = Bm25Encoder(avg_len=variant.avg_len or DEFAULT_AVG_LEN)
    params: dict[str, float] = {}
    if variant.k is not None:
        params["k"] = variant.k
    if variant.b is not None:
        params["b"] = variant.b
    encoder._model = Bm25(Bm25Config(language="english", avg_len=encoder.avg_len, **params))
    return encoder


async def run_variant(  # noqa: PLR0917 - an experiment's inputs
    variant: Variant,
    docs: list[Doc],
    queries: list[tuple[str, str, list[float]]],
    embedder: Any,
    cache: VectorCache,
    qrels: dict[str, dict[str, int]],
    aliases: dict[str, tuple[str, ...]],
) -> dict[str, Scores]:
    from ragplatform.adapters.vectorstores.qdrant_edge import QdrantEdgeStore

    rows: list[tuple[Doc, int, str]] = []
    for doc in docs:
        for index, (_stored, indexed) in enumerate(chunks_of(doc, variant, embedder.count_tokens)):
            rows.append((doc, index, indexed))
    print(f"{variant.name}: {len(rows)} chunks", flush=True)
    vectors = await cache.embed(embedder, [text for _, _, text in rows])
    encoder = bm25_encoder(variant)
    with tempfile.TemporaryDirectory(prefix="repr-") as tmp:
        store = QdrantEdgeStore.open(
            Path(tmp) / "shard", dimension=384, indexing_threshold_kb=20_000
        )
        store._encoder = encoder  # an experiment's knob
        try:
            records = [
                shard_chunk(f"{doc.id}/{index}", doc.id, index, text, vector, {"beir_id": doc.id})
                for (doc, index, text), vector in zip(rows, vectors, strict=True)
            ]
            for start in range(0, len(records), 256):
                await store.upsert(tenant_id="t", chunks=records[start : start + 256])
            results: dict[str, Scores] = {}
            for mode in MODES:
                run: dict[str, dict[str, float]] = {}
                for query_id, text, vector in queries:
                    hits = await store.search(
                        tenant_id="t",
                        collection_ids=["c"],
                        query_text=text,
                        query_dense=vector,
                        mode=mode,
                        limit=100,  # type: ignore[arg-type]
                    )
                    scores: dict[str, float] = {}
                    for hit in hits:
                        doc_id = str(hit.payload["beir_id"])
                        for same in aliases.get(doc_id, (doc_id,)):
                            scores[same] = max(scores.get(same, float("-inf")), hit.score)
                    run[query_id] = scores
                results[mode] = evaluate(run, qrels)
            line = "  ".join(f"{m} {s.ndcg_10:.4f}" for m, s in results.items())
            print(f"{variant.name:<32} nDCG@10  {line}", flush=True)
            return results
        finally:
            await store.close()


async def run(names: list[str], limit: int | None, split: str) -> dict[str, dict[str, Scores]]:
    from ragplatform.adapters.embedders.sentence_transformers import LocalEmbedder
    from ragplatform.settings import EmbeddingSettings

    dataset = load(DATASET, split)
    docs = list(dataset.corpus)
    if limit:
        # every judged document plus the first ``limit`` others: variants compare on a smaller
        # haystack (absolute figures run higher than on the whole corpus)
        judged = {doc for rels in dataset.qrels.values() for doc in rels}
        others = [d for d in docs if d.id not in judged][:limit]
        docs = [d for d in docs if d.id in judged] + others
    aliases = content_aliases(docs)
    embedder = await LocalEmbedder.load(EmbeddingSettings(runtime="torch", cache_size=0))
    cache = VectorCache(CACHE)
    try:
        texts = list(dataset.queries.items())
        query_vectors = await cache.embed(embedder, [t for _, t in texts])
        queries = [(qid, t, v) for (qid, t), v in zip(texts, query_vectors, strict=True)]
        out = {}
        for name in names:
            out[name] = await run_variant(
                VARIANTS[name], docs, queries, embedder, cache, dataset.qrels, aliases
            )
        return out
    finally:
        await embedder.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--limit", type=int, default=None, help="judged documents + N others")
    parser.add_argument("--split", default="train")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(run(args.variants, args.limit, args.split))
    header = "| Variant | " + " | ".join(f"{m} nDCG@10" for m in MODES) + " | hybrid R@100 |"
    table = ["", header, "|---" * (len(MODES) + 2) + "|"]
    for name, by_mode in results.items():
        cells = [f"{by_mode[m].ndcg_10:.4f}" for m in MODES]
        table.append(
            f"| {name} | " + " | ".join(cells) + f" | {by_mode['hybrid'].recall_100:.4f} |"
        )
    print("\n".join(table))
    if not args.no_record and not args.limit:
        data = {n: {m: s.as_dict() for m, s in r.items()} for n, r in results.items()}
        record(
            "Document representation variants (SciFact train, engine level)",
            ".venv/bin/python -m benchmarks.representation_variants --variants "
            + " ".join(f"'{n}'" for n in args.variants),
            [
                "top 100 chunks per query, DBSF hybrid; a document scores its best chunk"
                + "\n"
                + "\n".join(table)
            ],
            data,
        )


if __name__ == "__main__":
    main()
