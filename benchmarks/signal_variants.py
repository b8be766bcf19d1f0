"""Fusion, feedback, BM25 and extra-vector variants on the whole SciFact train corpus.

    .venv/bin/python -m benchmarks.signal_variants [--groups fusion feedback bm25 vectors bound]
        [--dataset DIR --split test]

Every variant ranks the documents of every judged query (SciFact train by default) from the
same 200/40-token chunks (indexed with their title, as the platform does) and is scored with the
eval command's metrics.
Vectors are cached on disk by text (``benchmarks.representation_variants``' cache), so a rerun
only re-scores. ``bound`` searches the weights of every document-level signal on the train
queries themselves: an optimistic ceiling for what combining these signals can reach.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from benchmarks.common import DATASET, record
from benchmarks.signals import (
    Bm25Matrix,
    Signals,
    bm25_model,
    build,
    check_against_engine,
    engine_rows,
    engine_shard,
)
from benchmarks.signals import fuse_chunks as fuse
from ragplatform.evaluation.metrics import Scores, evaluate, ndcg_at, ranked

Ranker = Callable[[int], dict[str, float]]  # query index -> document scores
GROUPS = ("fusion", "feedback", "bm25", "vectors", "bound", "depth")


def per_query(signals: Signals, ranker: Ranker) -> np.ndarray:
    """nDCG@10 of every judged query (for paired comparisons)."""
    run = ranked_run(signals, ranker)
    return np.asarray([ndcg_at(ranked(run.get(q, {})), g, 10) for q, g in signals.qrels.items()])


def score(signals: Signals, ranker: Ranker) -> Scores:
    return evaluate(ranked_run(signals, ranker), signals.qrels)


def ranked_run(signals: Signals, ranker: Ranker) -> dict[str, dict[str, float]]:
    run: dict[str, dict[str, float]] = {}
    for qi, qid in enumerate(signals.qids):
        docs: dict[str, float] = {}
        for doc, value in ranker(qi).items():
            for same in signals.aliases.get(doc, (doc,)):
                docs[same] = max(docs.get(same, float("-inf")), value)
        run[qid] = docs
    return run


def add(*parts: tuple[dict[str, float], float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for docs, weight in parts:
        for doc, value in docs.items():
            out[doc] = out.get(doc, 0.0) + weight * value
    return out


def fusion(s: Signals) -> dict[str, Ranker]:
    def chunk(qi: int) -> dict[str, float]:
        return s.docs_of(fuse([s.dense(qi), s.keyword(qi)], [1, 1]))

    def doc_level(wd: float, wk: float) -> Ranker:
        return lambda qi: add((s.branch_docs(s.dense(qi)), wd), (s.branch_docs(s.keyword(qi)), wk))

    def second(gamma: float) -> Ranker:
        def rank(qi: int) -> dict[str, float]:
            fused = fuse([s.dense(qi), s.keyword(qi)], [1, 1])
            per: dict[str, list[float]] = {}
            for row, value in sorted(fused.items(), key=lambda i: -i[1])[:200]:
                per.setdefault(str(s.doc_of[row]), []).append(value)
            return {d: v[0] + gamma * sum(v[1:2]) for d, v in per.items()}

        return rank

    def normalised(kind: str) -> Ranker:
        def rank(qi: int) -> dict[str, float]:
            fused: dict[int, float] = {}
            for branch in (s.dense(qi), s.keyword(qi)):
                values = np.asarray([v for _, v in branch])
                if not len(values):
                    continue
                if kind == "z-score":
                    values = (values - values.mean()) / (values.std() or 1.0)
                else:
                    values = (values - values.min()) / ((values.max() - values.min()) or 1.0)
                for (row, _), value in zip(branch, values, strict=True):
                    fused[row] = fused.get(row, 0.0) + float(value)
            return s.docs_of(fused)

        return rank

    return {
        "**default**: chunk-level DBSF of dense + BM25 (the engine's fusion)": chunk,
        "document-level DBSF (each branch's best chunk per document, then summed)": doc_level(1, 1),
        "document-level DBSF, dense 1 / BM25 0.8": doc_level(1, 0.8),
        "document-level DBSF, dense 0.8 / BM25 1": doc_level(0.8, 1),
        "chunk-level DBSF, document = best chunk + 0.1 x second chunk": second(0.1),
        "chunk-level DBSF, document = best chunk + 0.3 x second chunk": second(0.3),
        "z-score fusion (depth 800)": normalised("z-score"),
        "min-max fusion (depth 800)": normalised("min-max"),
    }


def feedback(s: Signals) -> dict[str, Ranker]:
    def feedback_rows(qi: int, k: int) -> list[int]:
        fused = fuse([s.dense(qi), s.keyword(qi)], [1, 1])
        return [row for row, _ in sorted(fused.items(), key=lambda i: -i[1])[:k]]

    def rocchio(k: int, beta: float) -> Ranker:
        def rank(qi: int) -> dict[str, float]:
            vector = s.query_vecs[qi] + beta * s.chunk_vecs[feedback_rows(qi, k)].mean(axis=0)
            vector /= np.linalg.norm(vector)
            return s.docs_of(fuse([s.dense(qi, vector), s.keyword(qi)], [1, 1]))

        return rank

    def rm3(k: int, terms: int, lam: float) -> Ranker:
        def rank(qi: int) -> dict[str, float]:
            weights = s.bm25.query(s.qtexts[qi])
            sub = s.bm25.matrix[feedback_rows(qi, k)]
            lengths = np.maximum(np.asarray(sub.sum(axis=1)).ravel(), 1e-9)
            rel = np.asarray(sub.multiply(1 / lengths[:, None]).mean(axis=0)).ravel()
            rel = rel * s.bm25.idf
            rel[weights > 0] = 0
            best = np.argsort(-rel)[:terms]
            if rel[best[0]] > 0:
                weights[best] = lam * rel[best] / rel[best[0]]
            return s.docs_of(fuse([s.dense(qi), s.keyword(qi, weights)], [1, 1]))

        return rank

    return {
        "dense Rocchio feedback (top 3 fused chunks, beta 0.5)": rocchio(3, 0.5),
        "dense Rocchio feedback (top 5 fused chunks, beta 0.5)": rocchio(5, 0.5),
        "dense Rocchio feedback (top 3 fused chunks, beta 1.0)": rocchio(3, 1.0),
        "BM25 RM3-style expansion (top 3 fused chunks, 10 terms, weight 0.5)": rm3(3, 10, 0.5),
        "BM25 RM3-style expansion (top 5 fused chunks, 20 terms, weight 0.3)": rm3(5, 20, 0.3),
    }


class Bigrams:
    """Adjacent stemmed, stop-word-free term pairs, BM25-weighted like the unigrams."""

    WORD = re.compile(r"\w+")

    def __init__(self, texts: list[str], k1: float = 1.2, b: float = 0.75, avg: float = 80.0):
        self.model = bm25_model()
        self.terms: dict[str, int | None] = {}
        self.vocab: dict[tuple[int, int], int] = {}
        rows, cols, vals = [], [], []
        for row, text in enumerate(texts):
            pairs, length = self.pairs(text)
            for pair, tf in Counter(pairs).items():
                rows.append(row)
                cols.append(self.vocab.setdefault(pair, len(self.vocab)))
                vals.append(tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg)))
        self.matrix = sp.csr_matrix((vals, (rows, cols)), shape=(len(texts), len(self.vocab)))
        df = np.asarray((self.matrix > 0).sum(axis=0)).ravel()
        self.idf = np.log((len(texts) - df + 0.5) / (df + 0.5) + 1.0)

    def term(self, word: str) -> int | None:
        if word not in self.terms:
            indices = self.model.embed_query(word).indices
            self.terms[word] = int(indices[0]) if len(indices) == 1 else None
        return self.terms[word]

    def pairs(self, text: str) -> tuple[list[tuple[int, int]], int]:
        terms = [t for t in (self.term(w) for w in self.WORD.findall(text.lower())) if t]
        return list(itertools.pairwise(terms)), len(terms)

    def scores(self, text: str) -> np.ndarray:
        weights = np.zeros(len(self.vocab))
        for pair in set(self.pairs(text)[0]):
            if pair in self.vocab:
                weights[self.vocab[pair]] = 1.0
        return np.asarray(self.matrix @ (weights * self.idf)).ravel()


def bm25(s: Signals) -> dict[str, Ranker]:
    from qdrant_edge import DisabledStemmer, StopwordsSet

    from benchmarks.signals import top

    def with_model(matrix: Bm25Matrix, *, hybrid: bool) -> Ranker:
        def rank(qi: int) -> dict[str, float]:
            keyword = top(matrix.scores(matrix.query(s.qtexts[qi])), positive=True)
            branches = [s.dense(qi), keyword] if hybrid else [keyword]
            return s.docs_of(fuse(branches, [1] * len(branches)))

        return rank

    out: dict[str, Ranker] = {
        "BM25 alone (the platform's tokenizer)": with_model(s.bm25, hybrid=False)
    }
    for label, config in (
        ("no stemming", {"stemmer": DisabledStemmer()}),
        ("no stop words", {"stopwords": StopwordsSet(custom=set())}),
        ("ASCII folding", {"ascii_folding": True}),
        ("tokens of 2+ characters", {"min_token_len": 2}),
    ):
        matrix = Bm25Matrix(bm25_model(**config), s.texts)
        out[f"BM25 alone, {label}"] = with_model(matrix, hybrid=False)
        out[f"hybrid with BM25 {label}"] = with_model(matrix, hybrid=True)
    pairs = Bigrams(s.texts)
    for mu in (0.3, 0.6):

        def bigram(qi: int, mu: float = mu) -> dict[str, float]:
            text = s.qtexts[qi]
            scores = s.bm25.scores(s.bm25.query(text)) + mu * pairs.scores(text)
            return s.docs_of(fuse([s.dense(qi), top(scores, positive=True)], [1, 1]))

        out[f"hybrid with BM25 + {mu} x stemmed-bigram BM25"] = bigram
    return out


def vectors(s: Signals) -> dict[str, Ranker]:
    def three(wd: float, wk: float, wm: float) -> Ranker:
        return lambda qi: add(
            (s.branch_docs(s.dense(qi)), wd),
            (s.branch_docs(s.keyword(qi)), wk),
            (s.branch_docs(s.max_sim(qi)), wm),
        )

    def extra(vecs: np.ndarray, weight: float) -> Ranker:
        return lambda qi: add(
            (s.branch_docs(s.dense(qi)), 1),
            (s.branch_docs(s.keyword(qi)), 1),
            (s.doc_branch(vecs, qi), weight),
        )

    return {
        "dense alone (chunk vectors)": lambda qi: s.docs_of(fuse([s.dense(qi)], [1])),
        "sentence MaxSim alone (each chunk scored by its best sentence, title-prefixed)": (
            lambda qi: s.docs_of(fuse([s.max_sim(qi)], [1]))
        ),
        "whole-document vectors alone (title + abstract, truncated at 256 tokens)": (
            lambda qi: s.doc_branch(s.doc_vecs, qi)
        ),
        "sentence MaxSim + BM25 (chunk-level DBSF)": (
            lambda qi: s.docs_of(fuse([s.max_sim(qi), s.keyword(qi)], [1, 1]))
        ),
        "dense + BM25 + sentence MaxSim (chunk-level DBSF)": (
            lambda qi: s.docs_of(fuse([s.dense(qi), s.keyword(qi), s.max_sim(qi)], [1, 1, 1]))
        ),
        "dense + BM25 + sentence MaxSim (document-level)": three(1, 1, 1),
        "dense 0.5 + BM25 1 + sentence MaxSim 1 (document-level)": three(0.5, 1, 1),
        "document-level dense + BM25 + whole-document vectors x 0.3": extra(s.doc_vecs, 0.3),
        "document-level dense + BM25 + title vectors x 0.3": extra(s.title_vecs, 0.3),
    }


def bound(s: Signals) -> dict[str, Ranker]:
    names = ("dense", "BM25", "sentence MaxSim", "whole-document vector", "title vector")
    features = [
        (
            s.branch_docs(s.dense(qi)),
            s.branch_docs(s.keyword(qi)),
            s.branch_docs(s.max_sim(qi)),
            s.doc_branch(s.doc_vecs, qi),
            s.doc_branch(s.title_vecs, qi),
        )
        for qi in range(len(s.qids))
    ]

    def weighted(weights: tuple[float, ...]) -> Ranker:
        return lambda qi: add(*zip(features[qi], weights, strict=True))

    weights, best = (1.0, 1.0, 1.0, 0.0, 0.0), 0.0
    best = score(s, weighted(weights)).ndcg_10
    for _ in range(2):  # coordinate ascent over a small grid, on the train queries themselves
        for i in range(len(weights)):
            for candidate in (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0):
                trial = (*weights[:i], candidate, *weights[i + 1 :])
                value = score(s, weighted(trial)).ndcg_10
                if value > best + 1e-6:
                    weights, best = trial, value
    label = ", ".join(f"{n} {w:g}" for n, w in zip(names, weights, strict=True))
    return {f"ceiling: document-level weights searched on train ({label})": weighted(weights)}


DEPTHS = (80, 50, 200, 400, 800)  # 80: what a top_k 10 request prefetched before 2026-11-22


def depth(s: Signals) -> dict[str, Ranker]:
    """The API's default request (top_k 10, so 20 chunks asked) at each branch depth."""

    def at(d: int) -> Ranker:
        return lambda qi: s.docs_of(fuse([s.dense(qi)[:d], s.keyword(qi)[:d]], [1, 1]), limit=20)

    return {f"top_k 10 (20 chunks), each branch prefetching {d}": at(d) for d in DEPTHS}


def group_baseline(group: str, rankers: dict[str, Ranker], default: Ranker) -> Ranker:
    """What a group's rows are compared with: the depth group with the old top_k 10 depth."""
    return next(iter(rankers.values())) if group == "depth" else default


async def engine_latency(store: Any, s: Signals) -> str:
    """Median engine time of a top_k 10 hybrid query at each prefetch depth (one shard, one run)."""
    import statistics
    import time

    from ragplatform.adapters.vectorstores import qdrant_edge

    default = qdrant_edge.search_depth
    medians = {}
    try:
        for d in DEPTHS:
            qdrant_edge.search_depth = lambda _limit, d=d: d  # type: ignore[assignment]
            times = []
            for qi in range(len(s.qids)):
                started = time.perf_counter()
                await engine_rows(store, s, qi, "hybrid", 20)
                times.append(time.perf_counter() - started)
            medians[d] = statistics.median(times) * 1000
    finally:
        qdrant_edge.search_depth = default
    return "engine hybrid p50 for 20 chunks (Qdrant Edge, HNSW): " + ", ".join(
        f"depth {d} {ms:.2f} ms ({ms / medians[80]:.2f}x)" for d, ms in medians.items()
    )


async def run(
    groups: list[str], dataset: Path, split: str
) -> tuple[str, dict[str, dict[str, Any]]]:
    signals = await build(dataset, split)
    async with engine_shard(signals) as store:
        check = await check_against_engine(store, signals)
        if "depth" in groups:
            check += "; " + await engine_latency(store, signals)
    print(check, flush=True)
    builders = {"fusion": fusion, "feedback": feedback, "bm25": bm25, "vectors": vectors}
    builders["bound"] = bound
    builders["depth"] = depth
    chunk_dbsf = fusion(signals)[next(iter(fusion(signals)))]
    results: dict[str, dict[str, Any]] = {}
    for group in groups:
        rankers = builders[group](signals)
        base = per_query(signals, group_baseline(group, rankers, chunk_dbsf))
        for name, ranker in rankers.items():
            scores = score(signals, ranker)
            diff = per_query(signals, ranker) - base
            se = float(diff.std(ddof=1) / np.sqrt(len(diff)))
            results[name] = {"group": group, **scores.as_dict(), "paired_se": round(se, 4)}
            delta = scores.ndcg_10 - float(base.mean())
            results[name]["delta"] = round(delta, 4)
            print(f"{group:<9} {scores.ndcg_10:.4f} ({delta:+.4f} ±{se:.4f})  {name}", flush=True)
    return check, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", nargs="*", default=list(GROUPS), choices=GROUPS)
    parser.add_argument("--dataset", type=Path, default=DATASET, help="a BEIR-format folder")
    parser.add_argument("--split", default="train")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    check, results = asyncio.run(run(args.groups, args.dataset, args.split))
    table = [
        "",
        "| Group | Variant | nDCG@10 | vs default* (± paired SE) | Recall@10 | Recall@100 "
        "| MRR@10 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        table.append(
            f"| {r['group']} | {name} | {r['ndcg@10']:.4f} | "
            f"{r['delta']:+.4f} ± {r['paired_se']:.4f} | "
            f"{r['recall@10']:.4f} | {r['recall@100']:.4f} | {r['mrr@10']:.4f} |"
        )
    print("\n".join(table))
    if not args.no_record:
        record(
            f"Retrieval signal variants ({args.dataset.name} {args.split}, whole corpus)",
            ".venv/bin/python -m benchmarks.signal_variants --groups " + " ".join(args.groups),
            [
                f"{args.dataset.name} ({args.split}): documents as 200/40-token chunks indexed"
                " with their title, branch depth 800; dense = exact cosine, BM25 = the"
                " platform's encoder in scipy. *vs default: vs chunk-level DBSF at depth 800;"
                " the depth group vs depth 80 (a top_k 10 request before this run)",
                check + "\n" + "\n".join(table),
            ],
            results,
        )


if __name__ == "__main__":
    main()
