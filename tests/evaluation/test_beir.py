from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragplatform.evaluation.beir import DatasetError, load


def write_dataset(
    root: Path,
    docs: dict[str, tuple[str, str]],
    queries: dict[str, str],
    qrels: list[tuple[str, str, int]],
    split: str = "test",
) -> Path:
    """A BEIR folder under ``root``."""
    (root / "qrels").mkdir(parents=True)
    with (root / "corpus.jsonl").open("w") as handle:
        for doc_id, (title, text) in docs.items():
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (root / "queries.jsonl").open("w") as handle:
        for query_id, text in queries.items():
            handle.write(json.dumps({"_id": query_id, "text": text}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in qrels]
    (root / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return root


def test_load_keeps_judged_queries(tmp_path: Path) -> None:
    folder = write_dataset(
        tmp_path / "ds",
        {"d1": ("Title", "Text."), "d2": ("", "Only text.")},
        {"q1": "judged", "q2": "not judged"},
        [("q1", "d1", 2)],
    )
    data = load(folder, "test")
    assert list(data.queries) == ["q1"] and data.qrels == {"q1": {"d1": 2}}
    assert [d.content() for d in data.corpus] == ["Title Text.", "Only text."]


def test_problems_are_one_line(tmp_path: Path) -> None:
    folder = write_dataset(tmp_path / "ds", {"d1": ("t", "x")}, {"q1": "a"}, [("q1", "d1", 1)])
    with pytest.raises(DatasetError, match="is the split name right"):
        load(folder, "dev")
    with pytest.raises(DatasetError, match="not a directory"):
        load(tmp_path / "missing", "test")
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "a"}\nnot json\n')
    with pytest.raises(DatasetError, match=r"queries.jsonl:2: not JSON"):
        load(folder, "test")
    (folder / "queries.jsonl").write_text('{"_id": "q9", "text": "a"}\n')
    with pytest.raises(DatasetError, match="no query"):
        load(folder, "test")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\thigh\n")
    with pytest.raises(DatasetError, match="not an integer"):
        load(folder, "test")
