"""Metadata filters as Milvus expressions: the ``terms`` view, literals, no value in the text."""

from __future__ import annotations

import datetime as dt

import pytest

from ragplatform.adapters.vectorstores.milvus_filters import (
    MAX_RANGE_ELEMENTS,
    Expr,
    filter_terms,
    literal,
    metadata_expr,
    render,
)
from ragplatform.retrieval.filters import Match, NumberRange, parse_filter

HOSTILE = '"]) or 1==1 or ("\\'


def test_terms_type_every_value_of_every_addressable_path() -> None:
    terms = filter_terms(
        {
            "lang": ["en", "de", "en"],
            "year": 2021,
            "score": 2.5,
            "draft": True,
            "author": {"name": "ann", "age": 30, "tags": [{"deep": 1}, "x"]},
            "published": "2024-03-01",
            "none": None,
            "bad key": 1,
            "ключ": 2,
            "x.y": 3,
        }
    )
    assert terms == {
        "e:lang": ["s:en", "s:de"],
        "e:year": ["i:2021"],
        "n:year": 2021,
        "n:score": 2.5,
        "e:draft": ["b:true"],
        "e:author.name": ["s:ann"],
        "e:author.age": ["i:30"],
        "n:author.age": 30,
        "e:author.tags": ["s:x"],
        "e:published": ["s:2024-03-01"],
        "d:published": 1_709_251_200_000_000,
    }


def test_terms_keep_list_numbers_and_dates_in_slots() -> None:
    terms = filter_terms(
        {"n": list(range(12)), "d": ["2020-01-01T00:00:00+01:00", "no", "2020-01-01"]}
    )
    assert [terms.get("n:n" + (f"#{i}" if i else "")) for i in range(9)] == [*range(8), None]
    assert terms["d:d"] == -3_600_000_000 + 1_577_836_800_000_000
    assert terms["d:d#1"] == 1_577_836_800_000_000
    assert MAX_RANGE_ELEMENTS == 8


def test_terms_skip_what_no_filter_can_match() -> None:
    assert filter_terms(None) == {}
    assert filter_terms(["not", "an", "object"]) == {}
    terms = filter_terms({"long": "x" * 1025, "huge": 2**70, "nan": float("nan"), "flag": False})
    assert terms == {"e:huge": [f"i:{2**70}"], "e:flag": ["b:false"]}


def test_values_never_enter_the_expression_text() -> None:
    expr = Expr()
    raw = {
        "and": [
            {"field": "kind", "in": [HOSTILE, "{p0}"]},
            {"not": {"field": "n", "gte": 1.5, "lt": 3}},
            {"field": "when", "gt": "2024-01-01T00:00:00Z"},
        ]
    }
    text = metadata_expr(parse_filter(raw), expr)
    assert HOSTILE not in text
    assert 'json_contains_any(terms["e:kind"], {p0})' in text
    first_slot = '(exists terms["n:n"] and terms["n:n"] >= {p1} and terms["n:n"] < {p2})'
    assert f"(not ({first_slot} or " in text
    assert expr.params == {
        "p0": [f"s:{HOSTILE}", "s:{p0}"],
        "p1": 1.5,
        "p2": 3.0,
        "p3": 1_704_067_200_000_000,
    }
    assert text.count("exists") == 2 * MAX_RANGE_ELEMENTS


def test_fields_are_checked_again_before_entering_the_text() -> None:
    for field in ('a"]', "a b", "", ".a"):
        with pytest.raises(ValueError, match="invalid metadata field"):
            metadata_expr(Match(field, ("x",)), Expr())
    with pytest.raises(ValueError, match="invalid metadata field"):
        metadata_expr(NumberRange('x"] or 1==1', gte=1), Expr())


def test_literals_are_quoted_and_escaped() -> None:
    assert literal('say "hi"\\ \n\r\t ok') == '"say \\"hi\\"\\\\ \\n\\r\\t ok"'
    assert literal("東京 🚀") == '"東京 🚀"'
    assert literal(True) == "true"
    assert literal(False) == "false"
    assert literal(-3) == "-3"
    assert literal(1e-05) == "1e-05"
    assert literal(2021.0) == "2021.0"
    assert literal(["a", 1, [False]]) == '["a", 1, [false]]'
    with pytest.raises(ValueError, match="cannot be written"):
        literal(float("inf"))
    with pytest.raises(TypeError, match="dict"):
        literal({"a": 1})


def test_render_fills_each_placeholder_once() -> None:
    expr = Expr()
    expr.add(f"tenant_id == {expr.value('{p1}')}").add(f"x == {expr.value(HOSTILE)}")
    assert expr.text == "tenant_id == {p0} and x == {p1}"
    rendered = render(expr.text, expr.params)
    assert rendered == 'tenant_id == "{p1}" and x == "\\"]) or 1==1 or (\\"\\\\"'


def test_dates_become_utc_microseconds() -> None:
    expr = Expr()
    metadata_expr(parse_filter({"field": "d", "lte": "1969-12-31T23:00:00-01:00"}), expr)
    assert expr.params == {"p0": 0}
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert filter_terms({"d": "1970-01-01T00:00:00.000001Z"})["d:d"] == 1
    assert filter_terms({"d": epoch.isoformat()})["d:d"] == 0
