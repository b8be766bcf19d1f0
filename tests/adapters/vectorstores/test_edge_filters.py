"""Translation of metadata filters into Qdrant Edge conditions (behaviour: tests/contract)."""

from __future__ import annotations

from datetime import UTC, datetime

from qdrant_edge import FieldCondition, Filter, MatchAny, MatchValue, RangeDateTime, RangeFloat

from ragplatform.adapters.vectorstores.edge_filters import edge_condition
from ragplatform.retrieval.filters import And, DateRange, Match, Not, NumberRange, Or


def _field(condition: object) -> FieldCondition:
    assert isinstance(condition, FieldCondition)
    return condition


def _values(condition: object) -> object:
    match = _field(condition).match
    assert isinstance(match, MatchValue | MatchAny)
    return match.value


def test_fields_read_the_metadata_payload() -> None:
    condition = _field(edge_condition(Match("author.name", ("ann",))))
    assert condition.key == "metadata.author.name"
    assert _values(condition) == "ann"


def test_booleans_stay_booleans_in_the_binding() -> None:
    value = _values(edge_condition(Match("draft", (True,))))
    assert value is True
    assert type(value) is bool


def test_several_values_use_match_any_per_kind_and_booleans_one_by_one() -> None:
    assert _values(edge_condition(Match("tags", ("a", "b")))) == ["a", "b"]
    assert _values(edge_condition(Match("year", (2019, 2022)))) == [2019, 2022]
    mixed = edge_condition(Match("x", ("a", 1, True, False, True)))
    assert isinstance(mixed, Filter)
    assert mixed.should is not None
    assert [_values(part) for part in mixed.should] == ["a", 1, True, False]
    assert [type(_values(part)) for part in mixed.should][2:] == [bool, bool]


def test_ranges() -> None:
    numbers = _field(edge_condition(NumberRange("year", gte=2019.0, lt=2022.0))).range
    assert isinstance(numbers, RangeFloat)
    assert (numbers.gt, numbers.gte, numbers.lt, numbers.lte) == (None, 2019.0, 2022.0, None)
    moment = datetime(2024, 3, 1, 10, tzinfo=UTC)
    dates = _field(edge_condition(DateRange("published", gt=moment))).range
    assert isinstance(dates, RangeDateTime)
    assert dates.gt is not None
    assert dates.gte is None


def test_combinators_nest() -> None:
    tree = edge_condition(
        And((Match("a", (1,)), Or((Match("b", ("x",)), Not(Match("c", (True,)))))))
    )
    assert isinstance(tree, Filter)
    assert tree.must is not None
    first, second = tree.must
    assert _field(first).key == "metadata.a"
    assert isinstance(second, Filter)
    assert second.should is not None
    negated = second.should[1]
    assert isinstance(negated, Filter)
    assert negated.must_not is not None
    assert _field(negated.must_not[0]).key == "metadata.c"
