"""Chunks as JSON lines: the dense vector as base64 little-endian float32, payload as JSON.

Stores keep float32, so the encoding is exact: the same vectors, hence the same scores, in
whichever backend the chunks are loaded. BM25 vectors are not carried; every backend derives
them from the text.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ragplatform.ports import ChunkRecord

_F32 = np.dtype("<f4")


def encode_chunk(chunk: ChunkRecord) -> str:
    """One chunk as a JSON line (no newline)."""
    dense = base64.b64encode(np.asarray(chunk.dense, dtype=_F32).tobytes()).decode()
    return json.dumps(
        {
            "id": str(chunk.id),
            "tenant_id": chunk.tenant_id,
            "collection_id": chunk.collection_id,
            "document_id": chunk.document_id,
            "document_version": chunk.document_version,
            "chunk_index": chunk.chunk_index,
            "text": chunk.text,
            "dense": dense,
            "payload": chunk.payload,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def decode_chunk(line: str) -> ChunkRecord:
    """A chunk back from its JSON line."""
    data = json.loads(line)
    dense = np.frombuffer(base64.b64decode(data["dense"]), dtype=_F32)
    return ChunkRecord(
        id=uuid.UUID(data["id"]),
        tenant_id=str(data["tenant_id"]),
        collection_id=str(data["collection_id"]),
        document_id=str(data["document_id"]),
        document_version=int(data["document_version"]),
        chunk_index=int(data["chunk_index"]),
        text=str(data["text"]),
        dense=[float(v) for v in dense],
        payload=dict(data["payload"]),
    )


def append_chunks(path: Path, chunks: Iterable[ChunkRecord]) -> int:
    """Append chunks to the JSON-lines file at ``path``; returns how many were written."""
    count = 0
    with path.open("a", encoding="utf-8") as handle:
        for chunk in chunks:
            handle.write(encode_chunk(chunk))
            handle.write("\n")
            count += 1
    return count
