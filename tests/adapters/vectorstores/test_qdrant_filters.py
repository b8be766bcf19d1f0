"""Translation of metadata filters into ``qdrant_client`` models (behaviour: tests/contract)."""

from __future__ import annotations

from datetime import UTC, datetime

from qdrant_client import models

from ragplatform.adapters.vectorstores.qdrant_filters import qdrant_condition
from ragplatform.retrieval.filters import And, DateRange, Match, Not, NumberRange, Or


def test_matches() -> None:
    assert qdrant_condition(Match("author.name", ("ann",))) == models.FieldCondition(
        key="metadata.author.name", match=models.MatchValue(value="ann")
    )
    assert qdrant_condition(Match("tags", ("a", "b"))) == models.FieldCondition(
        key="metadata.tags", match=models.MatchAny(any=["a", "b"])
    )
    assert qdrant_condition(Match("draft", (True, False))) == models.Filter(
        should=[
            models.FieldCondition(key="metadata.draft", match=models.MatchValue(value=True)),
            models.FieldCondition(key="metadata.draft", match=models.MatchValue(value=False)),
        ]
    )


def test_ranges() -> None:
    assert qdrant_condition(NumberRange("year", gte=2019.0, lt=2022.0)) == models.FieldCondition(
        key="metadata.year", range=models.Range(gte=2019.0, lt=2022.0)
    )
    moment = datetime(2024, 3, 1, tzinfo=UTC)
    assert qdrant_condition(DateRange("day", lte=moment)) == models.FieldCondition(
        key="metadata.day", range=models.DatetimeRange(lte=moment)
    )


def test_combinators_nest() -> None:
    a = Match("a", (1,))
    tree = qdrant_condition(And((a, Or((a, Not(a))))))
    leaf = qdrant_condition(a)
    assert tree == models.Filter(
        must=[leaf, models.Filter(should=[leaf, models.Filter(must_not=[leaf])])]
    )
