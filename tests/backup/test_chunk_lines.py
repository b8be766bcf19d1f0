"""Chunks as JSON lines: exact float32 vectors, payloads as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ragplatform.backup.chunk_lines import append_chunks, decode_chunk, encode_chunk
from tests.contract.vector_data import chunk, fake_vector


def test_a_chunk_survives_its_line_exactly(tmp_path: Path) -> None:
    dense = [float(np.float32(v)) for v in fake_vector("x")]
    original = chunk("t", index=3, version=2, text="héllo\nworld", dense=dense,
                     payload={"title": "T", "metadata": {"a": [1, 2]}})  # fmt: skip
    line = encode_chunk(original)
    assert "\n" not in line
    data = json.loads(line)
    assert len(data["dense"]) < 384 * 6, "base64 float32, not decimal text"
    assert decode_chunk(line) == original
    path = tmp_path / "part.jsonl"
    assert append_chunks(path, [original, original]) == 2
    assert [decode_chunk(x) for x in path.read_text().splitlines()] == [original, original]
