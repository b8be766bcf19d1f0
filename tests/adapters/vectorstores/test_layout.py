"""The point layout shared by the Qdrant adapters."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from pathlib import Path

import pytest

from ragplatform.adapters.vectorstores.layout import (
    CHUNK_ID,
    chunk_payload,
    jsonable,
    physical_name,
    point_id,
    search_depth,
    to_hit,
)
from tests.contract.vector_data import chunk


def test_physical_name_per_model_and_dimension() -> None:
    assert physical_name("ragplatform", "all-MiniLM-L6-v2", 384) == (
        "ragplatform_all_minilm_l6_v2_384"
    )
    assert physical_name("rp", "BAAI/bge-m3", 1024) == "rp_baai_bge_m3_1024"
    assert physical_name("rp", "!!!", 8) == "rp_model_8"


def test_point_ids_are_stable_and_scoped_by_tenant() -> None:
    chunk_id = uuid.uuid4()
    assert point_id("a", chunk_id) == point_id("a", chunk_id)
    assert point_id("a", chunk_id) != point_id("b", chunk_id)


def test_jsonable() -> None:
    value = {
        "when": dt.datetime(2024, 1, 2, 3, 4, tzinfo=dt.UTC),
        "day": dt.date(2024, 1, 2),
        "id": uuid.UUID(int=1),
        "path": Path("a/b"),
        "tuple": (1, 2.5, None, True),
        "set": {"x"},
        "nan": math.nan,
        "nested": {1: ["s"]},
    }
    assert jsonable(value) == {
        "when": "2024-01-02T03:04:00+00:00",
        "day": "2024-01-02",
        "id": "00000000-0000-0000-0000-000000000001",
        "path": "a/b",
        "tuple": [1, 2.5, None, True],
        "set": ["x"],
        "nan": None,
        "nested": {"1": ["s"]},
    }
    assert isinstance(jsonable(b"raw"), str)


def test_layout_fields_win_over_the_chunk_payload() -> None:
    record = chunk("t", payload={"tenant_id": "evil", CHUNK_ID: "x", "title": "T"})
    payload = chunk_payload(record)
    assert payload["tenant_id"] == "t"
    assert payload[CHUNK_ID] == str(record.id)
    assert payload["title"] == "T"
    hit = to_hit(0.5, payload)
    assert hit.id == record.id
    assert CHUNK_ID not in hit.payload
    assert payload[CHUNK_ID] == str(record.id)  # the stored payload is not mutated
    with pytest.raises(KeyError):
        to_hit(0.0, None)


def test_search_depth() -> None:
    assert search_depth(1) == 50
    assert search_depth(100) == 400
