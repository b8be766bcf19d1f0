"""Evaluate retrieval end to end: ingest a BEIR corpus through the API, search every query."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from ragplatform.evaluation.beir import Dataset, Doc
from ragplatform.evaluation.metrics import Scores, evaluate
from ragplatform.evaluation.platform import PlatformError, call

UPLOAD_BATCH = 20
SEARCH_CONCURRENCY = 4
POLL_S = 2.0
Progress = Callable[[int], None]  # advance a progress bar by n


@dataclass(frozen=True)
class ModeResult:
    """The metrics of one search mode."""

    mode: str
    scores: Scores


def content_aliases(corpus: Sequence[Doc]) -> dict[str, tuple[str, ...]]:
    """Each id whose content another document repeats -> every id with that content."""
    groups: dict[str, list[str]] = {}
    for doc in corpus:
        key = hashlib.sha256(doc.upload()[1]).hexdigest()
        groups.setdefault(key, []).append(doc.id)
    return {i: tuple(ids) for ids in groups.values() if len(ids) > 1 for i in ids}


async def find_collection(http: httpx.AsyncClient, key: str, name: str) -> str | None:
    """The id of the collection called ``name``, if any."""
    cursor = None
    while True:
        page = await call(http, key, "GET", "/api/v1/collections", params=_params(cursor))
        for item in page["items"]:
            if item["name"] == name:
                return str(item["id"])
        cursor = page.get("next_cursor")
        if not cursor:
            return None


def _params(cursor: str | None, **extra: str) -> dict[str, str]:
    params = {"limit": "200", **extra}
    if cursor:
        params["cursor"] = cursor
    return params


async def _pending(http: httpx.AsyncClient, key: str, collection: str) -> tuple[int, list[str]]:
    """Documents still queued or processing, and the errors of failed ones."""
    pending, failed = 0, []
    for status in ("queued", "processing", "failed"):
        cursor = None
        while True:
            params = _params(cursor, collection_id=collection, status=status)
            page = await call(http, key, "GET", "/api/v1/documents", params=params)
            if status == "failed":
                failed += [f"{d['title']}: {d.get('error')}" for d in page["items"]]
            else:
                pending += len(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
    return pending, failed


async def ingest(
    http: httpx.AsyncClient,
    key: str,
    *,
    name: str,
    corpus: Sequence[Doc],
    uploaded: Progress,
    indexed: Progress,
) -> str:
    """A new collection holding the corpus, every document indexed; its id."""
    collection = (await call(http, key, "POST", "/api/v1/collections", json={"name": name}))["id"]
    for start in range(0, len(corpus), UPLOAD_BATCH):
        batch = corpus[start : start + UPLOAD_BATCH]
        # Names by position: ids may hold characters a filename cannot (``AC/DC``).
        files = []
        for i, d in enumerate(batch):
            suffix, data = d.upload()
            files.append(("files", (f"doc-{start + i:08d}{suffix}", data)))
        metadata = json.dumps([{"beir_id": d.id} for d in batch])
        path = f"/api/v1/collections/{collection}/documents"
        await call(http, key, "POST", path, files=files, data={"metadata": metadata})
        uploaded(len(batch))
    done = 0
    while True:
        pending, failed = await _pending(http, key, collection)
        if failed:
            raise PlatformError(f"{len(failed)} documents failed to ingest, e.g. {failed[0]}")
        now = len(corpus) - pending
        indexed(now - done)
        done = now
        if pending == 0:
            return str(collection)
        await asyncio.sleep(POLL_S)


async def run_queries(
    http: httpx.AsyncClient,
    key: str,
    *,
    collection: str,
    queries: dict[str, str],
    mode: str,
    top_k: int,
    advance: Progress,
    aliases: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, dict[str, float]]:
    """``{query id: {doc id: score}}``: each document scored by its best chunk.

    Documents with identical content are stored once (uploads are deduplicated by sha256), so
    a hit on one counts for every id in ``aliases`` with the same content.
    """
    limit = asyncio.Semaphore(SEARCH_CONCURRENCY)
    aliases = aliases or {}
    run: dict[str, dict[str, float]] = {}

    async def one(query_id: str, text: str) -> None:
        body = {"query": text, "mode": mode, "top_k": top_k, "collection_ids": [collection]}
        async with limit:
            result = await call(http, key, "POST", "/api/v1/search", json=body)
        scores: dict[str, float] = {}
        for hit in result["hits"]:
            doc = str(hit["metadata"].get("beir_id") or hit["document_id"])
            for same in aliases.get(doc, (doc,)):
                scores[same] = max(scores.get(same, float("-inf")), float(hit["score"]))
        run[query_id] = scores
        advance(1)

    await asyncio.gather(*(one(q, text[:2000]) for q, text in queries.items()))
    return run


async def evaluate_modes(
    http: httpx.AsyncClient,
    key: str,
    *,
    collection: str,
    dataset: Dataset,
    modes: Sequence[str],
    top_k: int,
    advance: Progress,
) -> list[ModeResult]:
    """The metrics of each mode over the dataset's judged queries."""
    results = []
    aliases = content_aliases(dataset.corpus)
    for mode in modes:
        run = await run_queries(
            http,
            key,
            collection=collection,
            queries=dataset.queries,
            mode=mode,
            top_k=top_k,
            advance=advance,
            aliases=aliases,
        )
        results.append(ModeResult(mode, evaluate(run, dataset.qrels)))
    return results
