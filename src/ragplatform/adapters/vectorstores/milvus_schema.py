"""The Milvus collection of the vector layout (ARCHITECTURE §4): fields, BM25 function, indexes.

One collection per embedding model and dimension. Scalar fields carry the layout keys
(``tenant_id`` is the partition key), ``payload`` (JSON) the chunk's own payload,
``terms`` (JSON) the filter view of its metadata (:mod:`.milvus_filters`), ``dense`` the
embedding (cosine; HNSW, FLAT on Milvus Lite) and ``bm25`` the sparse vector that Milvus'
BM25 function derives from ``keyword_text`` (the chunk's context header, then its text, as the
Qdrant adapters index it): standard tokenizer, lowercase, the English stop words
of the Qdrant adapters' BM25 (NLTK's list, which ``qdrant_edge`` uses), English Snowball
stemming. Milvus Lite (3.x) implements the tokenizer and the stop words but not the
stemmer: there ``parking`` does not match ``park`` (a deliberate, documented difference).
"""

from __future__ import annotations

from typing import Any

from pymilvus import DataType, Function, FunctionType, MilvusClient  # type: ignore[import-untyped]

from ragplatform.adapters.vectorstores.layout import (
    CHUNK_ID,
    DENSE,
    LAYOUT_KEYS,
    SPARSE,
    dense_values,
    jsonable,
    point_id,
)
from ragplatform.adapters.vectorstores.milvus_filters import TERMS, filter_terms
from ragplatform.errors import StartupError
from ragplatform.ports import ChunkRecord

PK = "id"
KEYWORD_TEXT = "keyword_text"  # what BM25 reads: the context header, then the chunk text
ID_CHARS = 255  # tenant, collection and document ids
TEXT_BYTES = 65_535  # the largest VARCHAR Milvus stores (UTF-8 bytes)
HNSW = {"M": 16, "efConstruction": 200}
BM25 = {"bm25_k1": 1.2, "bm25_b": 0.75}
_STOP_WORDS = (
    "a about above after again against ain all am an and any are aren aren't as at be because "
    "been before being below between both but by can couldn couldn't d did didn didn't do does "
    "doesn doesn't doing don don't down during each few for from further had hadn hadn't has "
    "hasn hasn't have haven haven't having he her here hers herself him himself his how i if in "
    "into is isn isn't it it's its itself just ll m ma me mightn mightn't more most mustn "
    "mustn't my myself needn needn't no nor not now o of off on once only or other our ours "
    "ourselves out over own re s same shan shan't she she's should should've shouldn shouldn't "
    "so some such t than that that'll the their theirs them themselves then there these they "
    "this those through to too under until up ve very was wasn wasn't we were weren weren't "
    "what when where which while who whom why will with won won't wouldn wouldn't y you you'd "
    "you'll you're you've your yours yourself yourselves"
)
LAYOUT_FIELDS = (
    CHUNK_ID,
    "tenant_id",
    "collection_id",
    "document_id",
    "document_version",
    "chunk_index",
    "text",
    "payload",
)


def english_stop_words() -> list[str]:
    """The stop words of the Qdrant adapters' English BM25 (NLTK's list, 179 words)."""
    return _STOP_WORDS.split()


def analyzer_params() -> dict[str, Any]:
    """The analyzer of ``text``: standard tokenizer, lowercase, stop words, English stemmer."""
    return {
        "tokenizer": "standard",
        "filter": [
            "lowercase",
            {"type": "stop", "stop_words": english_stop_words()},
            {"type": "stemmer", "language": "english"},
        ],
    }


def create_collection(client: MilvusClient, name: str, dimension: int, *, lite: bool) -> None:
    """Create the collection with its BM25 function and indexes (loaded, strong reads).

    A server indexes ``dense`` with HNSW and pre-filters it (falling back to brute force
    under selective filters). Milvus Lite's FAISS HNSW filters during the graph walk only,
    and misses matches a selective filter leaves unreachable, so there ``dense`` is FLAT
    (exact; a few ms at the sizes Milvus Lite is for).
    """
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field(PK, DataType.VARCHAR, max_length=36, is_primary=True)
    schema.add_field("chunk_id", DataType.VARCHAR, max_length=36)
    schema.add_field("tenant_id", DataType.VARCHAR, max_length=ID_CHARS, is_partition_key=True)
    schema.add_field("collection_id", DataType.VARCHAR, max_length=ID_CHARS)
    schema.add_field("document_id", DataType.VARCHAR, max_length=ID_CHARS)
    schema.add_field("document_version", DataType.INT64)
    schema.add_field("chunk_index", DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=TEXT_BYTES)
    schema.add_field(
        KEYWORD_TEXT,
        DataType.VARCHAR,
        max_length=TEXT_BYTES,
        enable_analyzer=True,
        analyzer_params=analyzer_params(),
    )
    schema.add_field(DENSE, DataType.FLOAT_VECTOR, dim=dimension)
    schema.add_field(SPARSE, DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("payload", DataType.JSON)
    schema.add_field(TERMS, DataType.JSON)
    schema.add_function(
        Function(
            name="text_bm25",
            function_type=FunctionType.BM25,
            input_field_names=[KEYWORD_TEXT],
            output_field_names=[SPARSE],
        )
    )
    client.create_collection(name, schema=schema, consistency_level="Strong")
    indexes = client.prepare_index_params()
    if lite:
        indexes.add_index(DENSE, index_type="FLAT", metric_type="COSINE")
    else:
        indexes.add_index(DENSE, index_type="HNSW", metric_type="COSINE", params=HNSW)
    indexes.add_index(SPARSE, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=BM25)
    for scalar in ("collection_id", "document_id"):
        indexes.add_index(scalar, index_type="INVERTED")
    # pymilvus polls every 0.5 s until each index is built; Milvus Lite builds at once.
    client.create_index(name, indexes, sync=not lite)
    client.load_collection(name)


def check_collection(description: dict[str, Any], name: str, dimension: int) -> None:
    """Raise StartupError unless the described collection has this layout and dimension."""
    fields = {f["name"]: f for f in description.get("fields", [])}
    required = (PK, DENSE, SPARSE, TERMS, KEYWORD_TEXT, *LAYOUT_FIELDS)
    missing = [f for f in required if f not in fields]
    if missing:
        raise StartupError(
            f"Milvus collection {name} was not created by ragplatform (no {', '.join(missing)})"
        )
    size = int(fields[DENSE].get("params", {}).get("dim", 0))
    if size != dimension:
        raise StartupError(
            f"Milvus collection {name} holds {size}-d dense vectors, not {dimension}-d"
        )


def to_row(chunk: ChunkRecord, dimension: int) -> dict[str, Any]:
    """The row of a chunk, checked against the field limits before anything is written."""
    for name in ("tenant_id", "collection_id", "document_id"):
        if len(getattr(chunk, name).encode()) > ID_CHARS:
            raise ValueError(f"chunk {chunk.id}: {name} is longer than {ID_CHARS} bytes")
    size = len(chunk.indexed_text.encode())
    if size > TEXT_BYTES:
        raise ValueError(
            f"chunk {chunk.id} has {size} bytes of text; Milvus stores at most {TEXT_BYTES}"
        )
    payload = {k: v for k, v in jsonable(chunk.payload).items() if k not in LAYOUT_KEYS}
    return {
        PK: str(point_id(chunk.tenant_id, chunk.id)),
        CHUNK_ID: str(chunk.id),
        "tenant_id": chunk.tenant_id,
        "collection_id": chunk.collection_id,
        "document_id": chunk.document_id,
        "document_version": int(chunk.document_version),
        "chunk_index": int(chunk.chunk_index),
        "text": chunk.text,
        KEYWORD_TEXT: chunk.indexed_text,
        DENSE: dense_values(chunk, dimension),
        "payload": payload,
        TERMS: filter_terms(payload.get("metadata")),
    }


def row_payload(row: dict[str, Any]) -> dict[str, Any]:
    """The port payload of a row: its own payload, then the layout keys (which win)."""
    payload = dict(row.get("payload") or {})
    payload.update({name: row[name] for name in LAYOUT_FIELDS if name != "payload"})
    payload["document_version"] = int(payload["document_version"])
    payload["chunk_index"] = int(payload["chunk_index"])
    payload[CHUNK_ID] = str(payload[CHUNK_ID])
    return payload


def search_params(field: str, limit: int) -> dict[str, Any]:
    """The search parameters of the dense (HNSW ef) or the BM25 field."""
    if field == DENSE:
        return {"metric_type": "COSINE", "params": {"ef": max(64, limit)}}
    return {"metric_type": "BM25"}
