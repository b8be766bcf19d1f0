"""The metadata filter syntax: every accepted shape, every refusal with its path, the limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ragplatform.retrieval.filters import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    MAX_VALUES,
    And,
    DateRange,
    FilterError,
    Match,
    MetadataFilter,
    Not,
    NumberRange,
    Or,
    parse_filter,
)


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc, arg-type]


def _cond(field: str = "x", **ops: Any) -> dict[str, Any]:
    return {"field": field, **ops}


def _in(values: Any, field: str = "x", **ops: Any) -> dict[str, Any]:
    return {"field": field, **ops, "in": values}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (_cond("lang", eq="en"), Match("lang", ("en",))),
        (_cond("year", eq=2021), Match("year", (2021,))),
        (_cond("flag", eq=True), Match("flag", (True,))),
        (_cond("flag", eq=False), Match("flag", (False,))),
        (_cond("year", eq=2021.0), Match("year", (2021,))),
        (_cond("score", eq=0.5), NumberRange("score", gte=0.5, lte=0.5)),
        (_cond("big", eq=1e20), NumberRange("big", gte=1e20, lte=1e20)),
        (_cond("n", eq=-(2**63)), Match("n", (-(2**63),))),
        (_cond("s", eq=""), Match("s", ("",))),
        (_cond("date", eq="2024-03-01"), Match("date", ("2024-03-01",))),
        (_in(["a", "b"], "tags"), Match("tags", ("a", "b"))),
        (_in(["a", "b", "a"], "tags"), Match("tags", ("a", "b"))),
        (_in([1, 2.0, 3], "n"), Match("n", (1, 2, 3))),
        (_in([True, False], "f"), Match("f", (True, False))),
        (_in(["one"], "f"), Match("f", ("one",))),
        (_cond("year", gte=2019, lt=2022), NumberRange("year", gte=2019.0, lt=2022.0)),
        (_cond("year", gt=2019), NumberRange("year", gt=2019.0)),
        (_cond("year", lte=2019.5), NumberRange("year", lte=2019.5)),
        (_cond("n", gt=-1.5, lte=1.5), NumberRange("n", gt=-1.5, lte=1.5)),
        (_cond("n", gte=3, lte=3), NumberRange("n", gte=3.0, lte=3.0)),
        (
            _cond("published", gte="2024-01-01", lt="2024-02-01T12:00:00Z"),
            DateRange("published", gte=_utc(2024, 1, 1), lt=_utc(2024, 2, 1, 12)),
        ),
        (_cond("d", gt="2024-03-01T10:00:00"), DateRange("d", gt=_utc(2024, 3, 1, 10))),
        (_cond("d", gt="2024-03-01 10:00"), DateRange("d", gt=_utc(2024, 3, 1, 10))),
        (_cond("d", lte="2024-03-01t10:00:00z"), DateRange("d", lte=_utc(2024, 3, 1, 10))),
        (_cond("d", lte="2024-03-01T10:00:00+02:00"), DateRange("d", lte=_utc(2024, 3, 1, 8))),
        (_cond("d", lte="2024-03-01T10:00:00-0130"), DateRange("d", lte=_utc(2024, 3, 1, 11, 30))),
        (_cond("d", lte="2024-03-01T10:00:00+05"), DateRange("d", lte=_utc(2024, 3, 1, 5))),
        (
            _cond("d", gte="2024-03-01T10:00:00.25Z"),
            DateRange("d", gte=_utc(2024, 3, 1, 10, 0, 0, 250000)),
        ),
        (
            _cond("d", gte="2024-03-01T10:00:00.123456789Z"),
            DateRange("d", gte=_utc(2024, 3, 1, 10, 0, 0, 123456)),
        ),
        (_cond("a.b.c", eq=1), Match("a.b.c", (1,))),
        (_cond("9lives_-x", eq=1), Match("9lives_-x", (1,))),
        (_cond("_a.-b", eq=1), Match("_a.-b", (1,))),
        (
            {"and": [_cond("a", eq=1), _cond("b", eq="x")]},
            And((Match("a", (1,)), Match("b", ("x",)))),
        ),
        ({"or": [_cond("a", eq=1)]}, Or((Match("a", (1,)),))),
        ({"not": _cond("a", eq=1)}, Not(Match("a", (1,)))),
        (
            {"and": [{"or": [_cond("a", eq=1), {"not": _cond("b", gt=2)}]}, _cond("c", eq=True)]},
            And((Or((Match("a", (1,)), Not(NumberRange("b", gt=2.0)))), Match("c", (True,)))),
        ),
    ],
)
def test_accepted_shapes(raw: object, expected: MetadataFilter) -> None:
    assert parse_filter(raw) == expected


def test_parses_json_text_and_dates_are_aware_utc() -> None:
    raw = json.loads(
        '{"field": "published", "gte": "2024-03-01", "lt": "2024-03-01T12:00:00+01:00"}'
    )
    parsed = parse_filter(raw)
    assert isinstance(parsed, DateRange)
    assert parsed.gte is not None
    assert parsed.lt is not None
    assert parsed.gte.utcoffset() == timedelta(0)
    assert parsed.lt == _utc(2024, 3, 1, 11)


def test_a_custom_root_path_prefixes_messages() -> None:
    with pytest.raises(FilterError, match=r"^body\.filter\.eq: "):
        parse_filter(_cond(eq=None), path="body.filter")


def test_error_carries_path_and_reason() -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter({"and": [_cond(eq=1), _cond(gte="abc")]})
    assert caught.value.path == "filter.and[1].gte"
    assert caught.value.reason == "expected a number or an ISO 8601 date, got 'abc'"
    assert (
        str(caught.value) == "filter.and[1].gte: expected a number or an ISO 8601 date, got 'abc'"
    )
    assert isinstance(caught.value, ValueError)


_ANY_KEY = "expected field with eq, in or gt/gte/lt/lte, or one of and, or, not"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        # shape of the object
        ("x", "filter: expected an object, got 'x'"),
        (None, "filter: expected an object, got null"),
        ([_cond(eq=1)], "filter: expected an object, got a list"),
        (
            {},
            "filter: expected a condition (field with eq, in or a range) or and, or, not",
        ),
        ({"foo": 1}, f"filter: unknown key 'foo'; {_ANY_KEY}"),
        (_cond(equals=1), f"filter: unknown key 'equals'; {_ANY_KEY}"),
        (
            {"and": [_cond(eq=1)], "or": []},
            "filter: 'and' must be the only key of its object, got also 'or'",
        ),
        (
            {"not": _cond(eq=1), "field": "x"},
            "filter: 'not' must be the only key of its object, got also 'field'",
        ),
        ({"eq": 1}, "filter: missing 'field'"),
        ({"field": "x"}, "filter: expected eq, in or a range (gt, gte, lt, lte) with the field"),
        (_in([1], eq=1), "filter: use exactly one of eq, in or a range, got eq, in"),
        (_cond(eq=1, gte=0), "filter: use exactly one of eq, in or a range, got eq, gte"),
        (_in([1], lt=1), "filter: use exactly one of eq, in or a range, got lt, in"),
        # combinators
        ({"and": []}, "filter.and: expected at least one filter"),
        ({"or": []}, "filter.or: expected at least one filter"),
        ({"and": _cond(eq=1)}, "filter.and: expected a list of filters, got an object"),
        ({"or": "x"}, "filter.or: expected a list of filters, got 'x'"),
        ({"not": []}, "filter.not: expected an object, got a list"),
        ({"not": None}, "filter.not: expected an object, got null"),
        ({"or": [_cond(eq=1), 3]}, "filter.or[1]: expected an object, got 3"),
        ({"and": [{"not": {"bad": 1}}]}, f"filter.and[0].not: unknown key 'bad'; {_ANY_KEY}"),
        # field
        ({"field": 1, "eq": 1}, "filter.field: expected a string, got 1"),
        ({"field": None, "eq": 1}, "filter.field: expected a string, got null"),
        ({"field": "", "eq": 1}, "filter.field: must not be empty"),
        ({"field": "a" * 129, "eq": 1}, "filter.field: field names are limited to 128 characters"),
        *[
            (
                {"field": name, "eq": 1},
                f"filter.field: invalid field name {name!r}: use letters, digits, '_' and '-', "
                "with '.' between nested keys",
            )
            for name in ["a b", "a..b", ".a", "a.", "-a", "a[]", "a/b", "é", 'a"b', "a.b.", "$x"]
        ],
        # eq
        (_cond(eq=None), "filter.eq: expected a string, number or boolean, got null"),
        (
            _cond(eq=[1]),
            "filter.eq: expected a single value, got a list; use 'in' for several values",
        ),
        (_cond(eq={"a": 1}), "filter.eq: expected a string, number or boolean, got an object"),
        (_cond(eq=float("nan")), "filter.eq: NaN and infinity are not allowed"),
        (_cond(eq=float("inf")), "filter.eq: NaN and infinity are not allowed"),
        (
            _cond(eq=2**63),
            "filter.eq: integers must fit in 64 bits (use a range for larger numbers)",
        ),
        (_cond(eq="x" * 1025), "filter.eq: strings are limited to 1024 characters"),
        # in
        (_in([]), "filter.in: expected at least one value"),
        (_in("a"), "filter.in: expected a list of values, got 'a'; use 'eq' for one"),
        (_in(1), "filter.in: expected a list of values, got 1; use 'eq' for one"),
        (
            _in([1, 2.5]),
            "filter.in[1]: 2.5 is not an integer; use a range (gte/lte) to match decimals",
        ),
        (
            _in([1, "a"]),
            "filter.in[1]: expected a number like the first value, got a string",
        ),
        (
            _in(["a", True]),
            "filter.in[1]: expected a string like the first value, got a boolean",
        ),
        (
            _in([True, 0]),
            "filter.in[1]: expected a boolean like the first value, got a number",
        ),
        (
            _in(["a", None]),
            "filter.in[1]: expected a string, number or boolean, got null",
        ),
        (
            _in([["a"]]),
            "filter.in[0]: expected a string, number or boolean, got a list",
        ),
        (_in([float("nan")]), "filter.in[0]: NaN and infinity are not allowed"),
        (
            _in([1, -(2**63) - 1]),
            "filter.in[1]: integers must fit in 64 bits (use a range for larger numbers)",
        ),
        (
            _in(["a", "b" * 1025]),
            "filter.in[1]: strings are limited to 1024 characters",
        ),
        (_in(list(range(MAX_VALUES + 1))), "filter.in: at most 256 values, got 257"),
        # ranges
        (_cond(gte="abc"), "filter.gte: expected a number or an ISO 8601 date, got 'abc'"),
        (_cond(gt=True), "filter.gt: expected a number or an ISO 8601 date, got true"),
        (_cond(lt=None), "filter.lt: expected a number or an ISO 8601 date, got null"),
        (_cond(lte=[1]), "filter.lte: expected a number or an ISO 8601 date, got a list"),
        (_cond(gte="2024"), "filter.gte: expected a number or an ISO 8601 date, got '2024'"),
        (
            _cond(gte="2024-3-1"),
            "filter.gte: expected a number or an ISO 8601 date, got '2024-3-1'",
        ),
        (
            _cond(gte="2024-13-01"),
            "filter.gte: expected a number or an ISO 8601 date, got '2024-13-01'",
        ),
        (
            _cond(gte="2024/03/01"),
            "filter.gte: expected a number or an ISO 8601 date, got '2024/03/01'",
        ),
        (
            _cond(gte="20240301"),
            "filter.gte: expected a number or an ISO 8601 date, got '20240301'",
        ),
        (_cond(gte="2021"), "filter.gte: expected a number or an ISO 8601 date, got '2021'"),
        (
            _cond(gte="0001-01-01T00:00:00+05:00"),
            "filter.gte: expected a number or an ISO 8601 date, got '0001-01-01T00:00:00+05:00'",
        ),
        (
            _cond(gte="x" * 100),
            f"filter.gte: expected a number or an ISO 8601 date, got '{'x' * 37}...'",
        ),
        (_cond(lt=float("inf")), "filter.lt: NaN and infinity are not allowed"),
        (_cond(lt=10**400), "filter.lt: number out of range"),
        (_cond(gt=1, gte=2), "filter: use either gt or gte, not both"),
        (_cond(lt=1, lte=2), "filter: use either lt or lte, not both"),
        (_cond(gte=1, lt="2024-01-01"), "filter.lt: cannot mix numbers and dates in one range"),
        (_cond(gt="2024-01-01", lte=5), "filter.lte: cannot mix numbers and dates in one range"),
        (_cond(gte=2022, lt=2019), "filter: empty range: gte 2022 and lt 2019 match nothing"),
        (_cond(gte=5, lt=5), "filter: empty range: gte 5 and lt 5 match nothing"),
        (_cond(gt=5, lte=5), "filter: empty range: gt 5 and lte 5 match nothing"),
        (_cond(gt=0.5, lt=0.25), "filter: empty range: gt 0.5 and lt 0.25 match nothing"),
        (
            _cond(gte="2024-02-01", lt="2024-01-01"),
            "filter: empty range: gte 2024-02-01T00:00:00+00:00 and lt 2024-01-01T00:00:00+00:00 "
            "match nothing",
        ),
        (
            _cond(gt="2024-01-01T01:00:00+01:00", lt="2024-01-01"),
            "filter: empty range: gt 2024-01-01T00:00:00+00:00 and lt 2024-01-01T00:00:00+00:00 "
            "match nothing",
        ),
    ],
)
def test_refusals_name_the_path(raw: object, message: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(raw)
    assert str(caught.value) == message


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = _cond(eq=1)
    for _ in range(depth - 1):
        node = {"not": node}
    return node


def test_depth_limit() -> None:
    assert isinstance(parse_filter(_nested(MAX_DEPTH)), Not)
    with pytest.raises(FilterError) as caught:
        parse_filter(_nested(MAX_DEPTH + 1))
    assert str(caught.value) == f"filter{'.not' * MAX_DEPTH}: filters nest at most 8 levels deep"


def test_condition_limit_counts_across_the_tree() -> None:
    half = MAX_CONDITIONS // 2
    ok = {"and": [{"or": [_cond(eq=i) for i in range(half)]}] + [_cond(eq=i) for i in range(half)]}
    assert isinstance(parse_filter(ok), And)
    too_many = {"or": [{"and": [_cond(eq=i) for i in range(half)]}] * 2 + [_cond(eq=0)]}
    with pytest.raises(FilterError) as caught:
        parse_filter(too_many)
    assert str(caught.value) == "filter.or[2]: a filter has at most 64 conditions"


def test_value_limits_are_inclusive() -> None:
    assert len(parse_filter(_in(list(range(MAX_VALUES)))).values) == MAX_VALUES  # type: ignore[union-attr]
    assert parse_filter(_cond(eq="x" * 1024)) == Match("x", ("x" * 1024,))
    assert parse_filter({"field": "a" * 128, "eq": 1}) == Match("a" * 128, (1,))


def test_nodes_are_frozen_and_hashable() -> None:
    node = parse_filter({"or": [_cond(eq=1), _cond(gte=1)]})
    assert hash(node) == hash(parse_filter({"or": [_cond(eq=1), _cond(gte=1)]}))
    with pytest.raises(AttributeError):
        node.children = ()  # type: ignore[misc, union-attr]


def test_a_match_needs_a_value() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        Match("x", ())
