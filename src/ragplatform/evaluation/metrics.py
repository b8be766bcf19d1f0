"""Standard IR metrics (BEIR/trec_eval definitions) over document rankings.

A run ranks documents by score, descending; ties are broken by document id, descending, as
trec_eval does. nDCG uses graded gains (the judgment's grade, linear, as trec_eval's
``ndcg_cut``) with a log2(rank + 1) discount against the ideal ordering of the judgments.
Recall@k counts judged-relevant documents (grade > 0) in the top k. MRR@k is the reciprocal
rank of the first relevant document within k (0 without one). Scores are means over queries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Run = Mapping[str, Mapping[str, float]]  # query id -> {doc id: score}
Qrels = Mapping[str, Mapping[str, int]]  # query id -> {doc id: grade}


def ranked(scores: Mapping[str, float]) -> list[str]:
    """Document ids by score descending, ties by id descending (trec_eval's order)."""
    return [
        doc for doc, _ in sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)
    ]


def ndcg_at(ranking: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    """nDCG@k of one ranking."""
    dcg = sum(max(grades.get(doc, 0), 0) / math.log2(i + 2) for i, doc in enumerate(ranking[:k]))
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranking: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    """Share of the relevant documents found in the top k."""
    relevant = {doc for doc, grade in grades.items() if grade > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def mrr_at(ranking: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    """1 / rank of the first relevant document within k."""
    for i, doc in enumerate(ranking[:k]):
        if grades.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


@dataclass(frozen=True)
class Scores:
    """The four reported metrics, averaged over the judged queries."""

    ndcg_10: float
    recall_10: float
    recall_100: float
    mrr_10: float
    queries: int

    def as_dict(self) -> dict[str, float | int]:
        """JSON-friendly figures."""
        return {
            "ndcg@10": round(self.ndcg_10, 4),
            "recall@10": round(self.recall_10, 4),
            "recall@100": round(self.recall_100, 4),
            "mrr@10": round(self.mrr_10, 4),
            "queries": self.queries,
        }


def evaluate(run: Run, qrels: Qrels) -> Scores:
    """Mean nDCG@10, Recall@10, Recall@100 and MRR@10 over the queries of ``qrels``."""
    totals = [0.0, 0.0, 0.0, 0.0]
    for query, grades in qrels.items():
        ranking = ranked(run.get(query, {}))
        totals[0] += ndcg_at(ranking, grades, 10)
        totals[1] += recall_at(ranking, grades, 10)
        totals[2] += recall_at(ranking, grades, 100)
        totals[3] += mrr_at(ranking, grades, 10)
    n = max(len(qrels), 1)
    ndcg, recall_10, recall_100, mrr = (t / n for t in totals)
    return Scores(ndcg, recall_10, recall_100, mrr, queries=len(qrels))
