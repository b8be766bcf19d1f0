"""Metadata filters (:mod:`ragplatform.retrieval.filters`) as ``qdrant_client`` conditions.

Field ``x.y`` reads the payload key ``metadata.x.y``; ``and``/``or``/``not`` become nested
``must``/``should``/``must_not`` filters. Date bounds are aware UTC datetimes; the server
(and the local mode) parse stored strings (``2024-03-01`` as midnight UTC, naive datetimes
as UTC). ``MatchAny`` takes strings or integers only, so booleans are matched one by one.
"""

from __future__ import annotations

from qdrant_client import models

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

QdrantCondition = models.FieldCondition | models.Filter


def qdrant_condition(f: MetadataFilter) -> QdrantCondition:
    """The ``qdrant_client`` condition for a metadata filter."""
    match f:
        case Match(field, values):
            return _match(payload_key(field), values)
        case NumberRange(field, gt, gte, lt, lte):
            bounds = models.Range(gt=gt, gte=gte, lt=lt, lte=lte)
            return models.FieldCondition(key=payload_key(field), range=bounds)
        case DateRange(field, gt, gte, lt, lte):
            dates = models.DatetimeRange(gt=gt, gte=gte, lt=lt, lte=lte)
            return models.FieldCondition(key=payload_key(field), range=dates)
        case And(children):
            return models.Filter(must=[qdrant_condition(child) for child in children])
        case Or(children):
            return models.Filter(should=[qdrant_condition(child) for child in children])
        case Not(child):
            return models.Filter(must_not=[qdrant_condition(child)])


def _value(key: str, value: Scalar) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _match(key: str, values: tuple[Scalar, ...]) -> QdrantCondition:
    """Equality with any of ``values``: MatchValue/MatchAny per kind, booleans one by one."""
    groups, booleans = match_groups(values)
    parts: list[QdrantCondition] = [
        _value(key, group[0])
        if len(group) == 1
        else models.FieldCondition(key=key, match=models.MatchAny(any=group))
        for group in groups
    ]
    parts.extend(_value(key, v) for v in booleans)
    return parts[0] if len(parts) == 1 else models.Filter(should=parts)
