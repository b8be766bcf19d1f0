"""Metrics against values computed by hand (trec_eval conventions)."""

from __future__ import annotations

import math

import pytest

from ragplatform.evaluation.metrics import evaluate, mrr_at, ndcg_at, ranked, recall_at

QRELS = {"q1": {"d1": 1, "d2": 2}, "q2": {"d4": 1}, "q3": {"d6": 1}}
RUN = {"q1": {"d2": 0.9, "d3": 0.8, "d1": 0.7}, "q2": {"d4": 0.5, "d5": 0.5}}


def test_ties_are_broken_by_id_descending() -> None:
    assert ranked({"d4": 0.5, "d5": 0.5, "d1": 0.9}) == ["d1", "d5", "d4"]


def test_graded_ndcg_by_hand() -> None:
    # DCG = 2/log2(2) + 0 + 1/log2(4) = 2.5; IDCG = 2 + 1/log2(3)
    expected = 2.5 / (2 + 1 / math.log2(3))
    assert ndcg_at(["d2", "d3", "d1"], QRELS["q1"], 10) == pytest.approx(expected)
    assert ndcg_at(["d3", "d2"], QRELS["q1"], 1) == 0.0
    assert ndcg_at(["d1"], {"d1": 0}, 10) == 0.0


def test_recall_and_mrr_by_hand() -> None:
    assert recall_at(["d3", "d1"], QRELS["q1"], 10) == 0.5
    assert recall_at(["d3", "d1"], QRELS["q1"], 1) == 0.0
    assert recall_at(["x"], {}, 10) == 0.0
    assert mrr_at(["d3", "d1"], QRELS["q1"], 10) == 0.5
    assert mrr_at(["d3"], QRELS["q1"], 10) == 0.0


def test_means_over_every_judged_query() -> None:
    scores = evaluate(RUN, QRELS)
    q1 = 2.5 / (2 + 1 / math.log2(3))
    q2 = 1 / math.log2(3)  # d4 is second after the tie-break
    assert scores.ndcg_10 == pytest.approx((q1 + q2 + 0) / 3)
    assert scores.recall_10 == pytest.approx(2 / 3)
    assert scores.recall_100 == pytest.approx(2 / 3)
    assert scores.mrr_10 == pytest.approx((1 + 0.5 + 0) / 3)
    assert scores.queries == 3
    assert scores.as_dict()["ndcg@10"] == round((q1 + q2) / 3, 4)


def test_duplicate_contents_are_aliases() -> None:
    from ragplatform.evaluation.beir import Doc
    from ragplatform.evaluation.runner import content_aliases

    corpus = [Doc("a", "T", "x"), Doc("b/c", "T", "x"), Doc("d", "T", "y")]
    assert content_aliases(corpus) == {"a": ("a", "b/c"), "b/c": ("a", "b/c")}
