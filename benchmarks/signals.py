"""Every cheap retrieval signal over the whole SciFact train corpus, for ``signal_variants``.

The corpus is chunked and indexed the way the platform does it (200/40-token chunks, each
indexed as ``title\\n\\nchunk``). Dense scores are exact cosines over the MiniLM vectors; BM25 is
recomputed with scipy from the platform's own encoder (the engine's TF weights, its IDF formula)
so that variants can change the query or the term statistics. ``check_against_engine`` proves
both replicas rank exactly like Qdrant Edge before any variant is trusted.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from benchmarks.common import DATASET
from benchmarks.representation_variants import (
    CACHE,
    VARIANTS,
    VectorCache,
    chunks_of,
    shard_chunk,
)
from ragplatform.documents.chunking import split_sentences
from ragplatform.evaluation.beir import load
from ragplatform.evaluation.runner import content_aliases

DEPTH = 800  # what each hybrid branch contributes when eval asks for 100 hits (limit 200)
Branch = list[tuple[int, float]]  # (chunk row, score), best first


class Bm25Matrix:
    """BM25 over the chunks as a sparse matrix: TF weights from the encoder, IDF at query time."""

    def __init__(self, encoder: Any, texts: Sequence[str]) -> None:
        self.encoder = encoder
        self.vocab: dict[int, int] = {}
        rows, cols, vals = [], [], []
        for row, text in enumerate(texts):
            vector = encoder.embed_document(text)
            for index, value in zip(vector.indices, vector.values, strict=True):
                rows.append(row)
                cols.append(self.vocab.setdefault(int(index), len(self.vocab)))
                vals.append(float(value))
        self.matrix = sp.csr_matrix((vals, (rows, cols)), shape=(len(texts), len(self.vocab)))
        n = self.matrix.shape[0]
        df = np.asarray((self.matrix > 0).sum(axis=0)).ravel()
        self.idf = np.log((n - df + 0.5) / (df + 0.5) + 1.0)  # the engine's IDF modifier

    def query(self, text: str) -> np.ndarray:
        """Unit weights for the query's known terms (as the engine's BM25 query)."""
        weights = np.zeros(len(self.vocab))
        for index in self.encoder.embed_query(text).indices:
            if int(index) in self.vocab:
                weights[self.vocab[int(index)]] = 1.0
        return weights

    def scores(self, weights: np.ndarray) -> np.ndarray:
        return np.asarray(self.matrix @ (weights * self.idf)).ravel()


def top(scores: np.ndarray, k: int = DEPTH, *, positive: bool = False) -> Branch:
    """The ``k`` best rows (only rows scoring above zero when ``positive``)."""
    candidates = np.flatnonzero(scores > 0) if positive else np.arange(len(scores))
    if len(candidates) > k:
        part = np.argpartition(-scores[candidates], k)[:k]
        candidates = candidates[part]
    order = candidates[np.argsort(-scores[candidates], kind="stable")]
    return [(int(i), float(scores[i])) for i in order]


def dbsf(scores: Sequence[float]) -> np.ndarray:
    """Qdrant's distribution-based normalisation: (s - (mean - 3 sd)) / 6 sd, not clipped."""
    values = np.asarray(scores, dtype=np.float64)
    if len(values) == 0:
        return values
    sd = values.std()
    if sd == 0:
        return np.ones_like(values)
    return (values - (values.mean() - 3 * sd)) / (6 * sd)


def fuse_chunks(branches: Sequence[Branch], weights: Sequence[float]) -> dict[int, float]:
    """Chunk-level DBSF (what the engine does): a chunk absent from a branch gets 0 from it."""
    fused: dict[int, float] = defaultdict(float)
    for branch, weight in zip(branches, weights, strict=True):
        if branch and weight:
            for (row, _), value in zip(branch, dbsf([s for _, s in branch]), strict=True):
                fused[row] += weight * value
    return fused


@dataclass
class Signals:
    """Everything the variants score with, aligned by chunk row, query and document index."""

    doc_of: np.ndarray  # chunk row -> document id
    doc_ids: list[str]
    texts: list[str]  # indexed chunk text
    qids: list[str]
    qtexts: list[str]
    qrels: dict[str, dict[str, int]]
    aliases: dict[str, tuple[str, ...]]
    query_vecs: np.ndarray
    chunk_vecs: np.ndarray
    doc_vecs: np.ndarray  # whole "title\n\ntext", truncated by the model
    title_vecs: np.ndarray
    sentence_owner: np.ndarray  # sentence -> chunk row (sorted)
    sentence_vecs: np.ndarray
    bm25: Bm25Matrix

    def dense(self, qi: int, vector: np.ndarray | None = None) -> Branch:
        query = self.query_vecs[qi] if vector is None else vector
        return top(self.chunk_vecs @ query)

    def keyword(self, qi: int, weights: np.ndarray | None = None) -> Branch:
        query = self.bm25.query(self.qtexts[qi]) if weights is None else weights
        return top(self.bm25.scores(query), positive=True)

    def max_sim(self, qi: int) -> Branch:
        """Each chunk scored by its best sentence (a MaxSim multivector)."""
        sims = self.sentence_vecs @ self.query_vecs[qi]
        starts = np.r_[0, np.flatnonzero(np.diff(self.sentence_owner)) + 1]
        return top(np.maximum.reduceat(sims, starts))

    def docs_of(self, fused: dict[int, float], limit: int = 200) -> dict[str, float]:
        """The best ``limit`` chunks as documents, each scored by its best chunk."""
        best: dict[str, float] = {}
        for row, score in sorted(fused.items(), key=lambda item: -item[1])[:limit]:
            doc = str(self.doc_of[row])
            best[doc] = max(best.get(doc, float("-inf")), score)
        return best

    def branch_docs(self, branch: Branch) -> dict[str, float]:
        """A branch at the document level: each document's best normalised chunk score."""
        best: dict[str, float] = {}
        for (row, _), value in zip(branch, dbsf([s for _, s in branch]), strict=True):
            doc = str(self.doc_of[row])
            best[doc] = max(best.get(doc, 0.0), float(value))
        return best

    def doc_branch(self, vectors: np.ndarray, qi: int, depth: int = 200) -> dict[str, float]:
        """A document-level dense branch (one vector per document), DBSF-normalised."""
        ranked = top(vectors @ self.query_vecs[qi], depth)
        values = dbsf([s for _, s in ranked])
        return {self.doc_ids[i]: float(v) for (i, _), v in zip(ranked, values, strict=True)}


def bm25_model(**config: Any) -> Any:
    """The platform's BM25 model (English, avg_len 80) with some settings changed."""
    from qdrant_edge import Bm25, Bm25Config

    from ragplatform.adapters.vectorstores.bm25 import DEFAULT_AVG_LEN

    return Bm25(Bm25Config(language="english", avg_len=DEFAULT_AVG_LEN, **config))


async def build(path: Path = DATASET, split: str = "train") -> Signals:
    """Chunk, embed (cached on disk by text) and index a BEIR corpus."""
    from ragplatform.adapters.embedders.sentence_transformers import LocalEmbedder
    from ragplatform.settings import EmbeddingSettings

    dataset = load(path, split)
    docs = list(dataset.corpus)
    variant = VARIANTS["200/40 title context"]
    embedder = await LocalEmbedder.load(EmbeddingSettings(runtime="torch", cache_size=0))
    cache = VectorCache(CACHE)
    try:
        doc_of, texts, owner, sentences = [], [], [], []
        for doc in docs:
            for stored, indexed in chunks_of(doc, variant, embedder.count_tokens):
                for paragraph in stored.split("\n\n"):
                    for _sep, sentence in split_sentences(paragraph):
                        owner.append(len(texts))
                        sentences.append(f"{doc.title}\n\n{sentence}")
                doc_of.append(doc.id)
                texts.append(indexed)
        qids = list(dataset.queries)
        qtexts = [dataset.queries[q] for q in qids]

        async def vectors(items: list[str]) -> np.ndarray:
            return np.asarray(await cache.embed(embedder, items), dtype=np.float32)

        return Signals(
            doc_of=np.asarray(doc_of),
            doc_ids=[d.id for d in docs],
            texts=texts,
            qids=qids,
            qtexts=qtexts,
            qrels=dataset.qrels,
            aliases=content_aliases(docs),
            query_vecs=await vectors(qtexts),
            chunk_vecs=await vectors(texts),
            doc_vecs=await vectors([f"{d.title}\n\n{d.text}" for d in docs]),
            title_vecs=await vectors([d.title for d in docs]),
            sentence_owner=np.asarray(owner),
            sentence_vecs=await vectors(sentences),
            bm25=Bm25Matrix(bm25_model(), texts),
        )
    finally:
        await embedder.close()


@contextlib.asynccontextmanager
async def engine_shard(signals: Signals) -> AsyncIterator[Any]:
    """The chunks in a real Qdrant Edge shard (the platform's default indexing threshold)."""
    from ragplatform.adapters.vectorstores.qdrant_edge import QdrantEdgeStore
    from ragplatform.settings import VectorSettings

    with tempfile.TemporaryDirectory(prefix="signals-") as tmp:
        store = QdrantEdgeStore.open(
            Path(tmp) / "shard",
            dimension=384,
            indexing_threshold_kb=VectorSettings().indexing_threshold_kb,
        )
        try:
            records = [
                shard_chunk(f"row/{row}", str(signals.doc_of[row]), row, text, vector, {"row": row})
                for row, (text, vector) in enumerate(
                    zip(signals.texts, signals.chunk_vecs.tolist(), strict=True)
                )
            ]
            for start in range(0, len(records), 512):
                await store.upsert(tenant_id="t", chunks=records[start : start + 512])
            await store.optimize()
            yield store
        finally:
            await store.close()


async def engine_rows(store: Any, signals: Signals, qi: int, mode: str, limit: int) -> list[int]:
    hits = await store.search(
        tenant_id="t",
        collection_ids=["c"],
        query_text=signals.qtexts[qi],
        query_dense=signals.query_vecs[qi].tolist(),
        mode=mode,
        limit=limit,
    )
    return [int(h.payload["row"]) for h in hits]


async def check_against_engine(store: Any, signals: Signals, queries: int = 100) -> str:
    """The replicas must rank keyword and hybrid like Qdrant Edge itself."""
    from ragplatform.adapters.vectorstores.layout import search_depth

    same = {"keyword": 0, "hybrid": 0}
    n = min(queries, len(signals.qids))
    for qi in range(n):
        for mode in same:
            engine = await engine_rows(store, signals, qi, mode, 10)
            if mode == "keyword":
                mine = [row for row, _ in signals.keyword(qi)[:10]]
            else:
                depth = search_depth(10)  # the engine's prefetch for limit 10
                branches = [signals.dense(qi)[:depth], signals.keyword(qi)[:depth]]
                fused = fuse_chunks(branches, [1, 1])
                mine = [r for r, _ in sorted(fused.items(), key=lambda i: -i[1])[:10]]
            same[mode] += engine == mine
    return f"replicas vs Qdrant Edge, identical top 10 for keyword {same['keyword']}/{n}, " + (
        f"hybrid DBSF {same['hybrid']}/{n} queries (exact cosine vs HNSW may differ by a tie)"
    )
