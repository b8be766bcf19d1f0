"""``ragplatform ingest``: walk paths, upload through the API, follow the jobs, summarise."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ragplatform.client import ApiClient, ApiError


@dataclass
class Summary:
    """What happened to each file."""

    ingested: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def walk(paths: Iterable[Path]) -> Iterator[Path]:
    """Files under ``paths`` (directories recursively, hidden entries skipped), sorted."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
                if child.is_file() and not hidden:
                    yield child
        elif path.is_file():
            yield path
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def ingest(
    client: ApiClient,
    files: list[Path],
    *,
    collection: str,
    wait: bool,
    console: Console,
    poll_s: float = 0.5,
    timeout_s: float = 3600,
) -> Summary:
    """Upload every file, then (with ``wait``) follow each document to ready or failed."""
    summary = Summary()
    collection_id = client.collection_id(collection, create=True)
    pending: dict[str, str] = {}
    with _progress(console) as progress:
        task = progress.add_task("uploading", total=len(files))
        for file in files:
            try:
                result = client.upload(f"/api/v1/collections/{collection_id}/documents", file)
                doc = result["documents"][0]
                if doc["duplicate"]:
                    summary.duplicates.append(str(file))
                else:
                    pending[doc["id"]] = str(file)
            except ApiError as exc:
                summary.failed.append((str(file), str(exc)))
            progress.advance(task)
        if not wait:
            summary.ingested += list(pending.values())
            return summary
        task = progress.add_task("indexing", total=len(pending))
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for doc_id, name in list(pending.items()):
                doc = client.get(f"/api/v1/documents/{doc_id}")
                if doc["status"] in ("ready", "failed"):
                    del pending[doc_id]
                    progress.advance(task)
                    if doc["status"] == "ready":
                        summary.ingested.append(name)
                    else:
                        summary.failed.append((name, doc["error"] or "failed"))
            if pending:
                time.sleep(poll_s)
        summary.failed += [
            (name, "still indexing when the wait timed out") for name in pending.values()
        ]
    return summary


def report(summary: Summary, console: Console) -> None:
    """Print the summary."""
    console.print(
        f"ingested: {len(summary.ingested)}  duplicates: {len(summary.duplicates)}  "
        f"failed: {len(summary.failed)}"
    )
    for name, reason in summary.failed:
        console.print(f"  failed {name}: {reason}", markup=False)
