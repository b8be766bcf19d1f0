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
    named_dense,
    physical_name,
    point_id,
    search_depth,
    to_hit,
    to_record,
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
    assert search_depth(1) == search_depth(20) == search_depth(100) == 400
    assert search_depth(200) == 800  # eval's 100 hits ask for 200 chunks


def test_to_record_lifts_the_layout_keys_out_of_a_stored_point() -> None:
    original = chunk("t", index=2, version=3, text="hello", payload={"title": "T", "page": 1})
    record = to_record(chunk_payload(original), [0.5] * 4)
    assert (record.id, record.tenant_id, record.document_version, record.chunk_index) == (
        original.id,
        "t",
        3,
        2,
    )
    assert record.text == "hello"
    assert record.payload == {"title": "T", "page": 1}
    assert record.dense == [0.5] * 4


def test_named_dense_reads_the_dense_vector_or_refuses() -> None:
    assert named_dense({"dense": [1, 2.5], "bm25": object()}) == [1.0, 2.5]
    for vector in (None, [0.1, 0.2], {"bm25": [1.0]}):
        with pytest.raises(ValueError, match="no dense vector"):
            named_dense(vector)
