"""A BEIR-format dataset: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class DatasetError(Exception):
    """The dataset folder is missing a file or holds a malformed line (one readable line)."""


@dataclass(frozen=True)
class Doc:
    """A corpus entry."""

    id: str
    title: str
    text: str

    def content(self) -> str:
        """The document as one text: ``title + " " + text`` (BEIR's convention)."""
        return f"{self.title} {self.text}".strip()

    def upload(self) -> tuple[str, bytes]:
        """(file suffix, bytes) uploaded for it: Markdown with the title as its heading.

        The platform then knows the title as a title, and indexes every chunk with it (its
        context header) instead of only the first; without a title, plain text.
        """
        title = " ".join(self.title.split())
        if not title:
            return ".txt", self.text.strip().encode()
        return ".md", f"# {title}\n\n{self.text.strip()}\n".encode()


@dataclass(frozen=True)
class Dataset:
    """The corpus, the queries that have judgments in the split, and the judgments."""

    corpus: list[Doc]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    if not path.is_file():
        raise DatasetError(f"{path} is missing")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict) or "_id" not in row:
                raise DatasetError(f"{path}:{number}: expected an object with an _id")
            yield number, row


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``{query_id: {doc_id: grade}}`` from a TSV with a header line."""
    if not path.is_file():
        raise DatasetError(f"{path} is missing (is the split name right?)")
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t")
        for number, row in enumerate(rows, start=1):
            if number == 1 and row and not row[-1].lstrip("-").isdigit():
                continue  # the header line
            if len(row) < 3:
                raise DatasetError(f"{path}:{number}: expected query-id, corpus-id, score")
            try:
                grade = int(row[2])
            except ValueError:
                raise DatasetError(f"{path}:{number}: score {row[2]!r} is not an integer") from None
            qrels.setdefault(row[0], {})[row[1]] = grade
    return qrels


def load(folder: Path, split: str) -> Dataset:
    """Read a BEIR folder; only queries judged in ``split`` are kept."""
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a directory")
    qrels = load_qrels(folder / "qrels" / f"{split}.tsv")
    corpus = [
        Doc(str(row["_id"]), str(row.get("title") or ""), str(row.get("text") or ""))
        for _, row in _jsonl(folder / "corpus.jsonl")
    ]
    queries = {
        str(row["_id"]): str(row.get("text") or "")
        for _, row in _jsonl(folder / "queries.jsonl")
        if str(row["_id"]) in qrels
    }
    if not queries:
        raise DatasetError(f"no query of {folder / 'queries.jsonl'} is judged in split {split!r}")
    return Dataset(corpus, queries, {q: qrels[q] for q in queries})
