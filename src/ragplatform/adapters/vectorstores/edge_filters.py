"""Metadata filters (:mod:`ragplatform.retrieval.filters`) as Qdrant Edge conditions.

Field ``x.y`` reads the payload key ``metadata.x.y``; ``and``/``or``/``not`` become nested
``must``/``should``/``must_not`` filters. Date bounds go to the engine as ISO 8601 UTC text;
the engine parses stored strings (``2024-03-01`` as midnight UTC, naive datetimes as UTC).

Edge's binding turns ``MatchValue(True)`` into the integer 1 (it tries ``int`` before
``bool``, and a Python bool is an int), which matches ``1`` and never ``true``. A
``numpy.bool_`` is refused as an integer and accepted as a boolean, so booleans travel as
that; the contract suite (``tests/contract/test_vector_filters.py``) pins the behaviour.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

import numpy as np
from qdrant_edge import FieldCondition, Filter, MatchAny, MatchValue, RangeDateTime, RangeFloat

from ragplatform.retrieval.filters import (
    And,
    DateRange,
    Match,
    MetadataFilter,
    Not,
    NumberRange,
    Or,
    Scalar,
    match_groups,
    payload_key,
)

EdgeCondition = FieldCondition | Filter


def edge_condition(f: MetadataFilter) -> EdgeCondition:
    """The engine condition for a metadata filter."""
    match f:
        case Match(field, values):
            return _match(payload_key(field), values)
        case NumberRange(field, gt, gte, lt, lte):
            return FieldCondition(
                payload_key(field), range=RangeFloat(gt=gt, gte=gte, lt=lt, lte=lte)
            )
        case DateRange(field, gt, gte, lt, lte):
            bounds = RangeDateTime(gt=_iso(gt), gte=_iso(gte), lt=_iso(lt), lte=_iso(lte))
            return FieldCondition(payload_key(field), range=bounds)
        case And(children):
            return Filter(must=[edge_condition(child) for child in children])
        case Or(children):
            return Filter(should=[edge_condition(child) for child in children])
        case Not(child):
            return Filter(must_not=[edge_condition(child)])


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _bool(value: bool) -> bool:
    """A boolean the binding keeps as a boolean (see the module docstring)."""
    return cast(bool, np.bool_(value))


def _match(key: str, values: tuple[Scalar, ...]) -> EdgeCondition:
    """Equality with any of ``values``: MatchValue/MatchAny per kind, booleans one by one."""
    groups, booleans = match_groups(values)
    parts: list[EdgeCondition] = [
        FieldCondition(key, match=MatchValue(group[0]) if len(group) == 1 else MatchAny(group))
        for group in groups
    ]
    parts.extend(FieldCondition(key, match=MatchValue(_bool(v))) for v in booleans)
    return parts[0] if len(parts) == 1 else Filter(should=[*parts])
