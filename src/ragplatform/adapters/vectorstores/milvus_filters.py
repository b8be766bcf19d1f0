"""Metadata filters (:mod:`ragplatform.retrieval.filters`) as Milvus boolean expressions.

Filters never read the stored payload. Each upsert derives a flat JSON field, ``terms``, from
the document's metadata (:func:`filter_terms`); its keys are typed views of each addressable
metadata path (``author.name``; dots join nested object keys, lists are not entered):

``e:<path>``
    equality tokens, one per scalar or list element: ``s:<text>``, ``i:<integer>``,
    ``b:true``/``b:false``. Equality never crosses types (``1`` is not ``true`` nor ``"1"``,
    an integer is not a number stored as ``1.0``), so a match is a ``json_contains_any``.
``n:<path>``, ``n:<path>#1`` ... ``#7``
    numbers (not booleans): the value, or the first :data:`MAX_RANGE_ELEMENTS` numbers of a
    list, one slot each, so a range matches when any element does.
``d:<path>`` ...
    the same slots for strings that parse as ISO 8601 dates, as microseconds since the epoch
    (UTC; naive values are UTC, a bare date is midnight), the rule of ``filters._date``.

Missing and null fields have no key: a condition on them is false, ``not`` true (each range
slot is guarded by ``exists`` because Milvus compares a missing JSON key as null).

Injection: values never enter the expression text. :class:`Expr` carries the text with
``{pN}`` placeholders and the values, passed as ``filter_params`` (Milvus' filter
templating). Milvus Lite does not implement templating, so there :func:`render` substitutes
each placeholder with a literal written here (strings quoted and escaped). Keys come from
fields the filter parser validated, checked again against the same pattern.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ragplatform.retrieval.filters import (
    MAX_STRING_CHARS,
    And,
    DateRange,
    Match,
    MetadataFilter,
    Not,
    NumberRange,
    Or,
    Scalar,
    parse_date,
)

TERMS = "terms"
MAX_RANGE_ELEMENTS = 8
_INT64 = 2**63
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*")
_OPS = (">", ">=", "<", "<=")
_PLACEHOLDER = re.compile(r"\{(p\d+)\}")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass
class Expr:
    """A boolean expression with ``{pN}`` placeholders and the values that fill them."""

    text: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def value(self, value: Any) -> str:
        """Register ``value`` and return its placeholder."""
        name = f"p{len(self.params)}"
        self.params[name] = value
        return "{" + name + "}"

    def add(self, condition: str) -> Expr:
        """AND ``condition`` (built with :meth:`value`) onto the expression."""
        self.text = f"{self.text} and {condition}" if self.text else condition
        return self


def render(text: str, params: Mapping[str, Any]) -> str:
    """``text`` with every placeholder replaced by its value as a literal (for Milvus Lite)."""
    return _PLACEHOLDER.sub(lambda m: literal(params[m.group(1)]), text)


def literal(value: Any) -> str:
    """A value written in the expression language: quoted strings, numbers, booleans, lists."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} cannot be written in a filter")
        return repr(value)
    if isinstance(value, str):
        return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    raise TypeError(f"cannot write a {type(value).__name__} in a filter")


def metadata_expr(f: MetadataFilter, expr: Expr) -> str:
    """The condition for ``f`` over the ``terms`` field; values go into ``expr``."""
    match f:
        case Match(path, values):
            tokens = [_token(v) for v in values]
            return f"json_contains_any({_key('e', path)}, {expr.value(tokens)})"
        case NumberRange(path, gt, gte, lt, lte):
            return _range(expr, "n", path, (gt, gte, lt, lte))
        case DateRange(path, gt, gte, lt, lte):
            return _range(expr, "d", path, tuple(_micros(b) for b in (gt, gte, lt, lte)))
        case And(children):
            return "(" + " and ".join(metadata_expr(c, expr) for c in children) + ")"
        case Or(children):
            return "(" + " or ".join(metadata_expr(c, expr) for c in children) + ")"
        case Not(child):
            return f"(not {metadata_expr(child, expr)})"


def _key(kind: str, path: str, slot: int = 0) -> str:
    """``terms["<kind>:<path>[#slot]"]``; the path is re-validated (it enters the text)."""
    if not _PATH.fullmatch(path):
        raise ValueError(f"invalid metadata field {path!r}")
    suffix = f"#{slot}" if slot else ""
    return f'{TERMS}["{kind}:{path}{suffix}"]'


def _range(expr: Expr, kind: str, path: str, bounds: Sequence[float | int | None]) -> str:
    """Any of the path's slots within the bounds (gt, gte, lt, lte)."""
    names = [None if b is None else expr.value(b) for b in bounds]
    slots = []
    for slot in range(MAX_RANGE_ELEMENTS):
        key = _key(kind, path, slot)
        parts = [f"exists {key}"]
        parts += [f"{key} {op} {name}" for op, name in zip(_OPS, names, strict=True) if name]
        slots.append("(" + " and ".join(parts) + ")")
    return "(" + " or ".join(slots) + ")"


def _token(value: Scalar) -> str:
    if isinstance(value, bool):
        return "b:true" if value else "b:false"
    if isinstance(value, int):
        return f"i:{value}"
    return f"s:{value}"


def _micros(value: dt.datetime | None) -> int | None:
    return None if value is None else (value - _EPOCH) // _MICROSECOND


def filter_terms(metadata: Any) -> dict[str, Any]:
    """The ``terms`` field of a chunk whose document metadata is ``metadata`` (JSON-like)."""
    terms: dict[str, Any] = {}
    if isinstance(metadata, Mapping):
        for path, values in _paths(metadata, ""):
            _index(terms, path, values)
    return terms


def _paths(obj: Mapping[str, Any], prefix: str) -> Iterable[tuple[str, list[Any]]]:
    """(path, scalar values) of every addressable key; objects nest, lists hold scalars."""
    for key, value in obj.items():
        if not isinstance(key, str) or not _SEGMENT.fullmatch(key):
            continue  # a filter cannot name it
        path = prefix + key
        if isinstance(value, Mapping):
            yield from _paths(value, path + ".")
        elif isinstance(value, list | tuple):
            yield path, [v for v in value if not isinstance(v, Mapping | list | tuple)]
        else:
            yield path, [value]


def _index(terms: dict[str, Any], path: str, values: list[Any]) -> None:
    tokens: list[str] = []
    numbers: list[int | float] = []
    dates: list[int] = []
    for value in values:
        if isinstance(value, bool):
            tokens.append(_token(value))
        elif isinstance(value, int):
            tokens.append(_token(value))
            if -_INT64 <= value < _INT64:
                numbers.append(value)
        elif isinstance(value, float):
            if math.isfinite(value):
                numbers.append(value)
        elif isinstance(value, str):
            if len(value) <= MAX_STRING_CHARS:  # longer strings never equal a filter value
                tokens.append(_token(value))
            date = parse_date(value)
            if date is not None:
                dates.append((date - _EPOCH) // _MICROSECOND)
    if tokens:
        terms[f"e:{path}"] = list(dict.fromkeys(tokens))
    for kind, found in (("n", numbers), ("d", dates)):
        for slot, number in enumerate(found[:MAX_RANGE_ELEMENTS]):
            terms[f"{kind}:{path}#{slot}" if slot else f"{kind}:{path}"] = number
