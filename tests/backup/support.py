"""A small real deployment to back up: two tenants, every file format, the real MiniLM model."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from ragplatform.backup.deployment import open_deployment
from ragplatform.backup.manifest import Manifest
from ragplatform.backup.writer import write_archive
from ragplatform.main import create_app
from ragplatform.settings import Settings
from tests.conftest import platform_settings
from tests.documents_support import SAMPLES, create_collection, docx_bytes, pdf_bytes, upload
from tests.documents_support import wait_for as wait_ready
from tests.platform import Api, bearer, make_tenant

QUERIES = [
    "How many days of paid holiday do employees get?",
    "firewall port",
    "llama migration notes",
    "Which city is in Japan?",
    "quarterly revenue risks",
]
MODES = ("hybrid", "dense", "keyword")


@dataclass
class Corpus:
    """Who owns what in the deployment (keys survive a backup: they are rows too)."""

    keys: dict[str, str] = field(default_factory=dict)  # slug -> owner key
    tenant_ids: dict[str, str] = field(default_factory=dict)
    documents: dict[str, list[str]] = field(default_factory=dict)


@contextmanager
def serving(settings: Settings) -> Iterator[Api]:
    """The platform API on ``settings`` (with the test admin key), lifespan running."""
    app = create_app(platform_settings(settings))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client)


def files_for(slug: str) -> dict[str, bytes]:
    """Every supported format, with a per-tenant twist so tenants differ."""
    files = dict(SAMPLES)
    files["report.pdf"] = pdf_bytes([f"{slug} page one about apples.", "Page two about pears."])
    files["report.docx"] = docx_bytes()
    files[f"{slug}.txt"] = f"Only {slug} writes about its secret project.".encode()
    return files


def populate(api: Api, slugs: tuple[str, ...] = ("acme", "globex")) -> Corpus:
    """Tenants with a collection each, every format uploaded and indexed."""
    corpus = Corpus()
    for slug in slugs:
        tenant = make_tenant(api, slug)
        corpus.keys[slug], corpus.tenant_ids[slug] = tenant.owner_key, tenant.id
        collection = create_collection(api.client, tenant.owner_key, f"{slug}-docs")
        response = upload(api.client, tenant.owner_key, collection, files_for(slug))
        assert response.status_code == 202, response.text
        ids = [d["id"] for d in response.json()["documents"]]
        for doc_id in ids:
            assert wait_ready(api.client, tenant.owner_key, doc_id)["status"] == "ready"
        corpus.documents[slug] = ids
    return corpus


def search_results(api: Api, key: str) -> dict[str, list[tuple[str, str, float]]]:
    """(chunk, document, score) of the top hits of every query in every mode."""
    found = {}
    for query in QUERIES:
        for mode in MODES:
            response = api.client.post(
                "/api/v1/search",
                json={"query": query, "mode": mode, "top_k": 5},
                headers=bearer(key),
            )
            assert response.status_code == 200, response.text
            found[f"{mode}:{query}"] = [
                (h["chunk_id"], h["document_id"], round(h["score"], 5))
                for h in response.json()["hits"]
            ]
    return found


def documents(api: Api, key: str) -> list[dict[str, Any]]:
    """The tenant's document list, every field."""
    response = api.client.get("/api/v1/documents", params={"limit": 200}, headers=bearer(key))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def chunks(api: Api, key: str, document_id: str) -> list[dict[str, Any]]:
    """A document's chunks as the API lists them."""
    response = api.client.get(f"/api/v1/documents/{document_id}/chunks", headers=bearer(key))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def observe(api: Api, corpus: Corpus, slugs: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Everything a tenant sees: search results and scores, documents, their chunks."""
    state: dict[str, Any] = {}
    for slug in slugs or tuple(corpus.keys):
        key = corpus.keys[slug]
        docs = documents(api, key)
        state[slug] = {
            "search": search_results(api, key),
            "documents": docs,
            "chunks": {d["id"]: chunks(api, key, d["id"]) for d in docs},
        }
    return state


def originals(data_dir: Path) -> dict[str, bytes]:
    """Every stored original by its path under the data dir."""
    root = data_dir / "tenants"
    return {
        str(p.relative_to(data_dir)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def backup_offline(settings: Settings, out: Path, *, tenant: str | None = None) -> Manifest:
    """Write an archive of the (not served) deployment of ``settings``."""

    async def run() -> Manifest:
        async with open_deployment(settings) as deployment:
            with out.open("wb") as sink:
                return await write_archive(
                    deployment, sink, compress=out.name.endswith(".gz"), tenant_slug=tenant
                )

    return asyncio.run(run())
