"""Output of the ``search`` and ``ask`` commands: ranked hits, and answers streamed as they come."""

from __future__ import annotations

import json
from typing import Any, TextIO

from ragplatform.client import ApiClient, ApiError


def parse_filter_option(text: str | None) -> dict[str, Any] | None:
    """The ``--filter`` JSON object (the server validates its shape)."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--filter is not valid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(value, dict):
        raise ValueError("--filter must be a JSON object")
    return value


def request_body(
    client: ApiClient, collections: list[str] | None, filter_text: str | None, **fields: Any
) -> dict[str, Any]:
    """A search/ask body with collection names resolved to ids."""
    body = dict(fields)
    ids = [client.collection_id(name, create=False) for name in collections or []]
    if ids:
        body["collection_ids"] = ids
    metadata_filter = parse_filter_option(filter_text)
    if metadata_filter is not None:
        body["filter"] = metadata_filter
    return body


def print_hits(result: dict[str, Any], out: TextIO) -> None:
    """Ranked hits with score, title/source, page and a snippet."""
    if not result["hits"]:
        out.write("no results\n")
    for rank, hit in enumerate(result["hits"], start=1):
        where = hit["title"] or hit["source"] or hit["document_id"]
        page = f" p.{hit['page']}" if hit.get("page") else ""
        snippet = " ".join(hit["text"].split())[:200]
        out.write(f"{rank:>2}. [{hit['score']:.4f}] {where}{page}\n    {snippet}\n")


def _source(citation: dict[str, Any]) -> str:
    where = citation.get("title") or citation.get("source") or citation["document_id"]
    page = f", p.{citation['page']}" if citation.get("page") else ""
    return f"[{citation['n']}] {where}{page}"


def stream_answer(client: ApiClient, body: dict[str, Any], out: TextIO) -> None:
    """Print the answer's text as it streams, then its sources."""
    citations: list[dict[str, Any]] = []
    for event, data in client.stream("/api/v1/ask", json={**body, "stream": True}):
        if event == "citations":
            citations = data["citations"]
        elif event == "delta":
            out.write(data["text"])
            out.flush()
        elif event == "error":
            out.write("\n")
            raise ApiError(502, data.get("code", "error"), data.get("detail", "the answer failed"))
        elif event == "done":
            out.write("\n")
    if citations:
        out.write("\nSources:\n")
        for citation in citations:
            out.write(f"  {_source(citation)}\n")
