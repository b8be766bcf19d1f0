"""The shared BM25 encoder and the sparse-vector checks that guard the engines."""

from __future__ import annotations

import math

import pytest
from qdrant_edge import Bm25, Bm25Config

from ragplatform.adapters.vectorstores.bm25 import (
    DEFAULT_AVG_LEN,
    Bm25Encoder,
    SparseTerms,
    check_sparse,
)


def test_ids_are_deterministic_and_shared_between_instances() -> None:
    text = "Qdrant stores sparse vectors for hybrid search"
    first, second = Bm25Encoder(), Bm25Encoder()
    assert first.document(text) == second.document(text)
    assert first.query(text).indices == second.query(text).indices
    assert set(first.query(text).indices) == set(first.document(text).indices)


def test_matches_the_engine_embedder_with_the_tuned_length() -> None:
    text = "the runners were running a long run"
    reference = Bm25(Bm25Config(language="english", avg_len=DEFAULT_AVG_LEN)).embed_document(text)
    terms = Bm25Encoder().document(text)
    assert terms.indices == list(reference.indices)
    assert terms.values == pytest.approx(list(reference.values))
    assert Bm25Encoder().avg_len == DEFAULT_AVG_LEN == 80.0


def test_stemming_stopwords_and_query_weights() -> None:
    encoder = Bm25Encoder()
    assert set(encoder.query("run").indices) <= set(encoder.query("running").indices)
    empty = encoder.query("the and of it")
    assert empty == SparseTerms([], [])
    assert not empty
    assert not encoder.document("")
    query = encoder.query("apple banana apple")
    assert len(query.indices) == 2
    assert query.values == [1.0, 1.0]


def test_document_weights_saturate_and_normalise_length() -> None:
    encoder = Bm25Encoder()
    once = encoder.document("zebra")
    twice = encoder.document("zebra zebra")
    padded = encoder.document("zebra " + " ".join(f"word{i}" for i in range(200)))
    [index] = once.indices
    weight = dict(zip(padded.indices, padded.values, strict=True))[index]
    assert twice.values[0] > once.values[0]
    assert weight < once.values[0]


def test_unicode_and_long_text() -> None:
    encoder = Bm25Encoder()
    assert encoder.query("東京 café 🚀")
    long = encoder.document("lorem ipsum " * 10_000)
    assert len(long.indices) == 2
    assert all(math.isfinite(v) for v in long.values)


def test_check_sparse_refuses_what_would_crash_the_engine() -> None:
    check_sparse([1, 2], [0.5, 1.0])
    check_sparse([], [])
    with pytest.raises(ValueError, match="2 indices but 1 values"):
        check_sparse([1, 2], [1.0])
    with pytest.raises(ValueError, match="outside"):
        check_sparse([-1], [1.0])
    with pytest.raises(ValueError, match="outside"):
        check_sparse([2**32], [1.0])
    with pytest.raises(ValueError, match="not finite"):
        check_sparse([1], [math.nan])
    with pytest.raises(ValueError, match="1 indices but 0 values"):
        SparseTerms([1], [])


def test_other_language() -> None:
    encoder = Bm25Encoder(language="german", avg_len=100.0)
    assert encoder.language == "german"
    assert encoder.query("Häuser Haus")
    with pytest.raises(ValueError, match="language"):
        Bm25Encoder(language="klingon")
