"""Metadata filters for search: a small JSON syntax parsed into a frozen tree.

Each JSON object is one condition or one combinator::

    {"field": "lang", "eq": "en"}                     equals (string, integer, boolean, number)
    {"field": "tags", "in": ["a", "b"]}               equals any of 1..256 values of one kind
    {"field": "year", "gte": 2019, "lt": 2022}        numeric range (gt/gte/lt/lte, one or more)
    {"field": "published", "gte": "2024-01-01"}       date range (ISO 8601 bounds)
    {"and": [...]}  {"or": [...]}  {"not": {...}}

``field`` names a key of the document's metadata; dots address nested objects
(``author.name``), not objects inside lists. Semantics every vector store adapter
implements (contract-tested): a list value matches when any element does; a missing field
matches no condition, so ``not`` matches documents without the field; equality never
crosses types (``1`` does not match ``true`` nor ``"1"``, an integer does not match a value
stored as ``1.0``); numeric ranges match numbers only; date ranges match stored strings
that parse as dates (``2024-03-01``, ``2024-03-01T10:00:00Z``, ...), naive ones taken as
UTC. A non-integral ``eq`` number becomes the range ``gte == lte``. Limits: depth 8, 64
conditions.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeAlias, TypeVar

Scalar: TypeAlias = str | int | bool
_Bound = TypeVar("_Bound", float, datetime)

MAX_DEPTH = 8
MAX_CONDITIONS = 64
MAX_VALUES = 256
MAX_FIELD_CHARS = 128
MAX_STRING_CHARS = 1024
_INT64 = 2**63
_FIELD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*")
_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?)?"
)
_BOUNDS = ("gt", "gte", "lt", "lte")
_COMBINATORS = ("and", "or", "not")
_CONDITION_KEYS = ("field", "eq", "in", *_BOUNDS)


@dataclass(frozen=True, slots=True)
class Match:
    """``field`` equals one of ``values`` (all of one kind: strings, integers or booleans)."""

    field: str
    values: tuple[Scalar, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("a Match needs at least one value")


@dataclass(frozen=True, slots=True)
class NumberRange:
    """``field`` is a number within the given bounds."""

    field: str
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


@dataclass(frozen=True, slots=True)
class DateRange:
    """``field`` is a date or datetime within the given (UTC, timezone-aware) bounds."""

    field: str
    gt: datetime | None = None
    gte: datetime | None = None
    lt: datetime | None = None
    lte: datetime | None = None


@dataclass(frozen=True, slots=True)
class And:
    """Every child matches."""

    children: tuple[MetadataFilter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one child matches."""

    children: tuple[MetadataFilter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The child does not match (true where the field is missing)."""

    child: MetadataFilter


MetadataFilter: TypeAlias = Match | NumberRange | DateRange | And | Or | Not


class FilterError(ValueError):
    """An invalid filter; ``path`` locates the problem (``filter.and[1].gte``)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def parse_filter(raw: object, *, path: str = "filter") -> MetadataFilter:
    """Parse the JSON form of a metadata filter, raising FilterError with the problem's path."""
    return _Parser().node(raw, path, 1)


def _show(value: object) -> str:
    """A value as a short JSON-ish phrase for messages."""
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    names: dict[type, str] = {list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def _number(value: float, path: str) -> float:
    if not math.isfinite(value):
        raise FilterError(path, "NaN and infinity are not allowed")
    return value


def _string(value: str, path: str) -> str:
    if len(value) > MAX_STRING_CHARS:
        raise FilterError(path, f"strings are limited to {MAX_STRING_CHARS} characters")
    return value


def _integer(value: int, path: str) -> int:
    if not -_INT64 <= value < _INT64:
        raise FilterError(path, "integers must fit in 64 bits (use a range for larger numbers)")
    return value


def parse_date(text: str) -> datetime | None:
    """An ISO 8601 date or datetime as an aware UTC datetime (naive ones are UTC), or None."""
    if not _DATE.fullmatch(text):
        return None
    try:
        value = datetime.fromisoformat(text.upper())
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _field(raw: object, path: str) -> str:
    if not isinstance(raw, str):
        raise FilterError(path, f"expected a string, got {_show(raw)}")
    if not raw:
        raise FilterError(path, "must not be empty")
    if len(raw) > MAX_FIELD_CHARS:
        raise FilterError(path, f"field names are limited to {MAX_FIELD_CHARS} characters")
    if not _FIELD.fullmatch(raw):
        raise FilterError(
            path,
            f"invalid field name {_show(raw)}: use letters, digits, '_' and '-', "
            "with '.' between nested keys",
        )
    return raw


def _eq(field: str, value: object, path: str) -> Match | NumberRange:
    if isinstance(value, bool):
        return Match(field, (value,))
    if isinstance(value, int):
        return Match(field, (_integer(value, path),))
    if isinstance(value, float):
        number = _number(value, path)
        if number.is_integer() and -_INT64 <= number < _INT64:
            return Match(field, (int(number),))
        return NumberRange(field, gte=number, lte=number)
    if isinstance(value, str):
        return Match(field, (_string(value, path),))
    if isinstance(value, list):
        raise FilterError(path, "expected a single value, got a list; use 'in' for several values")
    raise FilterError(path, f"expected a string, number or boolean, got {_show(value)}")


def _scalar(value: object, path: str) -> tuple[Scalar, str]:
    """One ``in`` value and its kind."""
    if isinstance(value, bool):
        return value, "boolean"
    if isinstance(value, int):
        return _integer(value, path), "number"
    if isinstance(value, float):
        number = _number(value, path)
        if not number.is_integer():
            raise FilterError(
                path, f"{number!r} is not an integer; use a range (gte/lte) to match decimals"
            )
        return _integer(int(number), path), "number"
    if isinstance(value, str):
        return _string(value, path), "string"
    raise FilterError(path, f"expected a string, number or boolean, got {_show(value)}")


def _in(field: str, raw: object, path: str) -> Match:
    if not isinstance(raw, list):
        raise FilterError(path, f"expected a list of values, got {_show(raw)}; use 'eq' for one")
    if not raw:
        raise FilterError(path, "expected at least one value")
    if len(raw) > MAX_VALUES:
        raise FilterError(path, f"at most {MAX_VALUES} values, got {len(raw)}")
    values: list[Scalar] = []
    first = ""
    for i, item in enumerate(raw):
        value, kind = _scalar(item, f"{path}[{i}]")
        first = first or kind
        if kind != first:
            raise FilterError(
                f"{path}[{i}]", f"expected a {first} like the first value, got a {kind}"
            )
        values.append(value)
    return Match(field, tuple(dict.fromkeys(values)))


def _bound(raw: object, path: str) -> float | datetime:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        try:
            return _number(float(raw), path)
        except OverflowError:
            raise FilterError(path, "number out of range") from None
    if isinstance(raw, str):
        date = parse_date(raw)
        if date is not None:
            return date
    raise FilterError(path, f"expected a number or an ISO 8601 date, got {_show(raw)}")


def _range(field: str, raw: dict[str, object], path: str) -> NumberRange | DateRange:
    for strict, loose in (("gt", "gte"), ("lt", "lte")):
        if strict in raw and loose in raw:
            raise FilterError(path, f"use either {strict} or {loose}, not both")
    numbers: dict[str, float] = {}
    dates: dict[str, datetime] = {}
    for key in _BOUNDS:
        if key in raw:
            bound = _bound(raw[key], f"{path}.{key}")
            if isinstance(bound, datetime):
                dates[key] = bound
            else:
                numbers[key] = bound
            if numbers and dates:
                raise FilterError(f"{path}.{key}", "cannot mix numbers and dates in one range")
    if dates:
        _check_nonempty(dates, path)
        get = dates.get
        return DateRange(field, gt=get("gt"), gte=get("gte"), lt=get("lt"), lte=get("lte"))
    _check_nonempty(numbers, path)
    num = numbers.get
    return NumberRange(field, gt=num("gt"), gte=num("gte"), lt=num("lt"), lte=num("lte"))


def _check_nonempty(bounds: dict[str, _Bound], path: str) -> None:
    """Refuse a range no value can satisfy (lower bound above, or at a strict, upper bound)."""
    low = next((key for key in ("gt", "gte") if key in bounds), None)
    high = next((key for key in ("lt", "lte") if key in bounds), None)
    if low is None or high is None:
        return
    strict = low == "gt" or high == "lt"
    if bounds[low] > bounds[high] or (strict and bounds[low] == bounds[high]):
        shown = f"{low} {_text(bounds[low])} and {high} {_text(bounds[high])}"
        raise FilterError(path, f"empty range: {shown} match nothing")


def _text(bound: float | datetime) -> str:
    if isinstance(bound, datetime):
        return bound.isoformat()
    return repr(bound).removesuffix(".0")


class _Parser:
    """One parse: counts conditions across the whole tree."""

    def __init__(self) -> None:
        self.conditions = 0

    def node(self, raw: object, path: str, depth: int) -> MetadataFilter:
        """The filter at ``path`` (``depth`` 1 is the top-level object)."""
        if depth > MAX_DEPTH:
            raise FilterError(path, f"filters nest at most {MAX_DEPTH} levels deep")
        if not isinstance(raw, dict):
            raise FilterError(path, f"expected an object, got {_show(raw)}")
        for key in raw:
            if key not in _CONDITION_KEYS and key not in _COMBINATORS:
                raise FilterError(
                    path,
                    f"unknown key {_show(key)}; expected field with eq, in or gt/gte/lt/lte, "
                    "or one of and, or, not",
                )
        combinators = [key for key in raw if key in _COMBINATORS]
        if combinators:
            if len(raw) > 1:
                others = ", ".join(repr(key) for key in raw if key != combinators[0])
                raise FilterError(
                    path,
                    f"{combinators[0]!r} must be the only key of its object, got also {others}",
                )
            return self.combinator(combinators[0], raw[combinators[0]], path, depth)
        if not raw:
            raise FilterError(
                path, "expected a condition (field with eq, in or a range) or and, or, not"
            )
        return self.condition(raw, path)

    def combinator(self, key: str, raw: object, path: str, depth: int) -> MetadataFilter:
        """``and``/``or`` over a non-empty list, or ``not`` over one filter."""
        path = f"{path}.{key}"
        if key == "not":
            return Not(self.node(raw, path, depth + 1))
        if not isinstance(raw, list):
            raise FilterError(path, f"expected a list of filters, got {_show(raw)}")
        if not raw:
            raise FilterError(path, "expected at least one filter")
        children = tuple(self.node(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(raw))
        return And(children) if key == "and" else Or(children)

    def condition(self, raw: dict[str, object], path: str) -> MetadataFilter:
        """One ``field`` condition: eq, in, or a range."""
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise FilterError(path, f"a filter has at most {MAX_CONDITIONS} conditions")
        if "field" not in raw:
            raise FilterError(path, "missing 'field'")
        field = _field(raw["field"], f"{path}.field")
        operators = [key for key in raw if key != "field"]
        if not operators:
            raise FilterError(path, "expected eq, in or a range (gt, gte, lt, lte) with the field")
        if ("eq" in raw or "in" in raw) and len(operators) > 1:
            raise FilterError(
                path, f"use exactly one of eq, in or a range, got {', '.join(operators)}"
            )
        if "eq" in raw:
            return _eq(field, raw["eq"], f"{path}.eq")
        if "in" in raw:
            return _in(field, raw["in"], f"{path}.in")
        return _range(field, raw, path)


def payload_key(field: str) -> str:
    """The stored payload key of metadata field ``field`` (``x.y`` -> ``metadata.x.y``)."""
    return f"metadata.{field}"


def match_groups(values: tuple[Scalar, ...]) -> tuple[list[list[str] | list[int]], list[bool]]:
    """A match's values as engines take them: string and integer groups, distinct booleans.

    Qdrant's ``MatchAny`` takes strings or integers, never booleans (matched one by one).
    """
    strings = [v for v in values if isinstance(v, str)]
    integers = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    groups: list[list[str] | list[int]] = [g for g in (strings, integers) if g]
    return groups, list(dict.fromkeys(v for v in values if isinstance(v, bool)))
