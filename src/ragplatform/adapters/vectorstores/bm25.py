"""BM25 sparse vectors shared by every Qdrant adapter, so token ids match across backends."""

from __future__ import annotations

import math
from dataclasses import dataclass

from qdrant_edge import Bm25, Bm25Config

# A 200-wordpiece chunk of English text yields ~80 BM25 tokens once stopwords are dropped
# (measured on the architecture notes chunked like ingestion does); the engine's default
# of 256 would almost switch length normalisation off.
DEFAULT_AVG_LEN = 80.0
MAX_INDEX = 2**32 - 1


@dataclass(frozen=True)
class SparseTerms:
    """A BM25 sparse vector: hashed token ids and their weights, same length."""

    indices: list[int]
    values: list[float]

    def __post_init__(self) -> None:
        check_sparse(self.indices, self.values)

    def __bool__(self) -> bool:
        return bool(self.indices)


def check_sparse(indices: list[int], values: list[float]) -> None:
    """Raise ValueError unless the vector is safe to hand to the engine (which panics)."""
    if len(indices) != len(values):
        raise ValueError(f"sparse vector has {len(indices)} indices but {len(values)} values")
    for index in indices:
        if not 0 <= index <= MAX_INDEX:
            raise ValueError(f"sparse index {index} is outside 0..2**32-1")
    for value in values:
        if not math.isfinite(value):
            raise ValueError(f"sparse value {value} is not finite")


class Bm25Encoder:
    """English BM25 (stemming, stopwords): TF weights for documents, unit weights for queries."""

    def __init__(self, *, avg_len: float = DEFAULT_AVG_LEN, language: str = "english") -> None:
        self.avg_len = avg_len
        self.language = language
        self._model = Bm25(Bm25Config(language=language, avg_len=avg_len))

    def document(self, text: str) -> SparseTerms:
        """The vector stored with a chunk (IDF is applied by the engine at query time)."""
        vector = self._model.embed_document(text)
        return SparseTerms(list(vector.indices), [float(v) for v in vector.values])

    def query(self, text: str) -> SparseTerms:
        """The vector of a search query; empty when the text has only stopwords."""
        vector = self._model.embed_query(text)
        return SparseTerms(list(vector.indices), [float(v) for v in vector.values])
