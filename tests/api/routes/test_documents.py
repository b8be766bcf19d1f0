from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from ragplatform.main import create_app
from ragplatform.settings import Settings
from tests.conftest import platform_settings
from tests.documents_support import (
    SAMPLES,
    create_collection,
    docx_bytes,
    pdf_bytes,
    upload,
    wait_for,
)
from tests.platform import Api, TenantFixture, bearer, make_tenant


def _chunks(api: Api, token: str, document_id: str) -> list[dict]:  # type: ignore[type-arg]
    page = api.ok(api.client.get(f"/api/v1/documents/{document_id}/chunks", headers=bearer(token)))
    return list(page["items"])


def test_every_format_is_ingested_with_structure(api: Api, acme: TenantFixture) -> None:
    collection = create_collection(api.client, acme.owner_key)
    files = dict(SAMPLES)
    files["report.pdf"] = pdf_bytes(["Page one talks about apples.", "Page two talks about pears."])
    files["report.docx"] = docx_bytes()
    response = upload(api.client, acme.owner_key, collection, files)
    assert response.status_code == 202, response.text
    uploaded = {d["source"]: d for d in response.json()["documents"]}
    assert set(uploaded) == set(files)
    text = api.client.post(
        f"/api/v1/collections/{collection}/documents",
        json={
            "title": "Memo",
            "text": "The cafeteria opens at eight.",
            "metadata": {"team": "ops"},
        },
        headers=bearer(acme.owner_key),
    )
    assert text.status_code == 202
    memo = text.json()["documents"][0]
    for doc in [*uploaded.values(), memo]:
        final = wait_for(api.client, acme.owner_key, doc["id"])
        assert final["status"] == "ready", (doc["source"], final["error"])
        assert final["chunk_count"] >= 1
    pdf_chunks = _chunks(api, acme.owner_key, uploaded["report.pdf"]["id"])
    assert [c["page"] for c in pdf_chunks] == [1, 2]
    assert "apples" in pdf_chunks[0]["text"]
    md_chunks = _chunks(api, acme.owner_key, uploaded["guide.md"]["id"])
    assert ["Setup", "Network"] in [c["heading_path"] for c in md_chunks]
    docx_chunks = _chunks(api, acme.owner_key, uploaded["report.docx"]["id"])
    assert any(c["heading_path"][:1] == ["Quarterly report"] for c in docx_chunks)
    html_text = " ".join(
        c["text"] for c in _chunks(api, acme.owner_key, uploaded["page.html"]["id"])
    )
    assert "twenty five days" in html_text and "tracking" not in html_text
    listed = api.ok(
        api.client.get(
            "/api/v1/documents",
            params={"collection_id": collection},
            headers=bearer(acme.owner_key),
        )
    )
    assert len(listed["items"]) == len(files) + 1
    memo_doc = api.ok(
        api.client.get(f"/api/v1/documents/{memo['id']}", headers=bearer(acme.owner_key))
    )
    assert memo_doc["metadata"] == {"team": "ops"} and memo_doc["mime"] == "text/plain"


def test_same_bytes_again_is_a_duplicate(api: Api, acme: TenantFixture) -> None:
    collection = create_collection(api.client, acme.owner_key)
    first = upload(api.client, acme.owner_key, collection, {"a.txt": b"same content"}).json()
    again = upload(api.client, acme.owner_key, collection, {"b.txt": b"same content"}).json()
    assert first["documents"][0]["duplicate"] is False
    assert again["documents"][0] == {**first["documents"][0], "duplicate": True} | {
        "status": again["documents"][0]["status"]
    }
    both = upload(api.client, acme.owner_key, collection, {"c.txt": b"twice", "d.txt": b"twice"})
    flags = [d["duplicate"] for d in both.json()["documents"]]
    assert flags == [False, True]
    listed = api.ok(
        api.client.get(
            "/api/v1/documents",
            params={"collection_id": collection},
            headers=bearer(acme.owner_key),
        )
    )
    assert len(listed["items"]) == 2


def test_changed_content_under_same_source_replaces_chunks(api: Api, acme: TenantFixture) -> None:
    token = acme.owner_key
    collection = create_collection(api.client, token)
    v1 = upload(api.client, token, collection, {"policy.txt": b"Version one of the travel policy."})
    doc_id = v1.json()["documents"][0]["id"]
    wait_for(api.client, token, doc_id)
    v2 = upload(api.client, token, collection, {"policy.txt": b"Version two: trains only."})
    body = v2.json()["documents"][0]
    assert body["id"] == doc_id and body["replaced"] is True
    final = wait_for(api.client, token, doc_id)
    assert final["version"] == 2 and final["status"] == "ready"
    texts = [c["text"] for c in _chunks(api, token, doc_id)]
    assert texts == ["Version two: trains only."]
    vectors = api.client.app_state["vectors"]  # type: ignore[attr-defined]
    import asyncio

    count = asyncio.run(vectors.count(tenant_id=acme.id, document_id=doc_id))
    assert count == 1


def test_delete_removes_chunks_and_file(api: Api, acme: TenantFixture, migrated: Settings) -> None:
    token = acme.owner_key
    collection = create_collection(api.client, token)
    doc = upload(api.client, token, collection, {"gone.txt": b"Soon to be deleted."}).json()
    doc_id = doc["documents"][0]["id"]
    wait_for(api.client, token, doc_id)
    originals = list((migrated.data_dir / "tenants" / acme.id / "originals").rglob("*"))
    assert any(p.is_file() for p in originals)
    assert (
        api.client.delete(f"/api/v1/documents/{doc_id}", headers=bearer(token)).status_code == 204
    )
    assert api.client.get(f"/api/v1/documents/{doc_id}", headers=bearer(token)).status_code == 404
    assert (
        api.client.get(f"/api/v1/documents/{doc_id}/chunks", headers=bearer(token)).status_code
        == 404
    )
    remaining = [p for p in (migrated.data_dir / "tenants" / acme.id).rglob("*") if p.is_file()]
    assert remaining == []
    audit = api.ok(
        api.client.get(
            "/api/v1/audit-events", params={"action": "document.deleted"}, headers=bearer(token)
        )
    )
    assert audit["items"][0]["target_id"] == doc_id


def test_bad_files_get_clear_errors_and_nothing_half_written(api: Api, acme: TenantFixture) -> None:
    token = acme.owner_key
    collection = create_collection(api.client, token)
    exe = upload(api.client, token, collection, {"invoice.pdf": b"MZ\x90\x00" + b"\x00" * 200})
    assert exe.status_code == 415 and exe.json()["code"] == "unsupported_media_type"
    empty = upload(api.client, token, collection, {"empty.txt": b""})
    assert empty.status_code == 422 and "empty" in empty.json()["detail"]
    mixed = upload(
        api.client, token, collection, {"good.txt": b"fine text", "bad.pdf": b"MZ\x00\x00binary"}
    )
    assert mixed.status_code == 415
    listed = api.ok(
        api.client.get(
            "/api/v1/documents", params={"collection_id": collection}, headers=bearer(token)
        )
    )
    assert listed["items"] == [], "a rejected request writes nothing"
    corrupt = upload(api.client, token, collection, {"broken.pdf": b"%PDF-1.7\n1 0 obj <<garbage"})
    assert corrupt.status_code == 202
    failed = wait_for(api.client, token, corrupt.json()["documents"][0]["id"])
    assert failed["status"] == "failed" and "PDF" in failed["error"]
    job = api.ok(api.client.get(f"/api/v1/jobs/{failed['job_id']}", headers=bearer(token)))
    assert job["status"] == "failed" and job["attempts"] == 1


def test_size_and_count_limits(tmp_path: Path, migrated: Settings) -> None:
    settings = platform_settings(
        migrated, ingestion={"max_file_bytes": 1000, "max_files_per_request": 2}
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        api = Api(client)
        acme = make_tenant(api, "acme")
        collection = create_collection(client, acme.owner_key)
        big = upload(client, acme.owner_key, collection, {"big.txt": b"x" * 1001})
        assert big.status_code == 413 and big.json()["code"] == "payload_too_large"
        many = upload(
            client, acme.owner_key, collection, {f"{i}.txt": b"t%d" % i for i in range(3)}
        )
        assert many.status_code == 413
        text = client.post(
            f"/api/v1/collections/{collection}/documents",
            json={"title": "t", "text": "y" * 1001},
            headers=bearer(acme.owner_key),
        )
        assert text.status_code == 413


def test_upload_input_errors(api: Api, acme: TenantFixture) -> None:
    token = acme.owner_key
    collection = create_collection(api.client, token)
    url = f"/api/v1/collections/{collection}/documents"
    wrong_type = api.client.post(
        url, content=b"hello", headers=bearer(token) | {"content-type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    no_files = api.client.post(
        url, data={"metadata": "{}"}, files={"other": ("x", b"")}, headers=bearer(token)
    )
    assert no_files.status_code == 422
    bad_meta = upload(api.client, token, collection, {"a.txt": b"a"}, metadata="[1, 2]")
    assert bad_meta.status_code == 422
    bad_json = api.client.post(url, json={"title": "", "text": "x"}, headers=bearer(token))
    assert bad_json.status_code == 422
    unknown = api.client.post(
        "/api/v1/collections/00000000-0000-0000-0000-000000000000/documents",
        json={"title": "t", "text": "x"},
        headers=bearer(token),
    )
    assert unknown.status_code == 404
    viewer = api.create_key(token, role="viewer")["key"]
    assert upload(api.client, viewer, collection, {"a.txt": b"a"}).status_code == 403


def test_metadata_patch_reaches_the_vector_payload(api: Api, acme: TenantFixture) -> None:
    import asyncio

    token = acme.owner_key
    collection = create_collection(api.client, token)
    meta = json.dumps({"team": "sales"})
    doc = upload(api.client, token, collection, {"m.txt": b"Metadata test text."}, metadata=meta)
    doc_id = doc.json()["documents"][0]["id"]
    wait_for(api.client, token, doc_id)
    patched = api.client.patch(
        f"/api/v1/documents/{doc_id}",
        json={"metadata": {"team": "support", "year": 2026}},
        headers=bearer(token),
    )
    assert patched.status_code == 200 and patched.json()["metadata"]["team"] == "support"
    vectors = api.client.app_state["vectors"]  # type: ignore[attr-defined]
    hits = asyncio.run(
        vectors.list_chunks(tenant_id=acme.id, document_id=doc_id, version=1, offset=0, limit=10)
    )
    assert hits and all(h.payload["metadata"] == {"team": "support", "year": 2026} for h in hits)
    bad = api.client.patch(
        f"/api/v1/documents/{doc_id}", json={"metadata": {"_x": 1}}, headers=bearer(token)
    )
    assert bad.status_code == 422


def test_reindex_and_status_filter(api: Api, acme: TenantFixture) -> None:
    token = acme.owner_key
    collection = create_collection(api.client, token)
    doc_id = upload(api.client, token, collection, {"r.txt": b"Reindex me."}).json()["documents"][
        0
    ]["id"]
    wait_for(api.client, token, doc_id)
    old_ids = [c["id"] for c in _chunks(api, token, doc_id)]
    job = api.ok(api.client.post(f"/api/v1/documents/{doc_id}/reindex", headers=bearer(token)), 202)
    assert job["status"] == "queued"
    final = wait_for(api.client, token, doc_id)
    assert final["version"] == 2
    new_ids = [c["id"] for c in _chunks(api, token, doc_id)]
    assert new_ids and new_ids != old_ids
    ready = api.ok(
        api.client.get("/api/v1/documents", params={"status": "ready"}, headers=bearer(token))
    )
    assert [d["id"] for d in ready["items"]] == [doc_id]
    failed = api.ok(
        api.client.get("/api/v1/documents", params={"status": "failed"}, headers=bearer(token))
    )
    assert failed["items"] == []
    bad = api.client.get("/api/v1/documents", params={"status": "nope"}, headers=bearer(token))
    assert bad.status_code == 422


def test_cancel_a_queued_job(api: Api, acme: TenantFixture) -> None:
    token = acme.owner_key
    collection = create_collection(api.client, token)
    doc = upload(api.client, token, collection, {"c.txt": b"Cancel me."}).json()["documents"][0]
    response = api.client.post(f"/api/v1/jobs/{doc['job_id']}/cancel", headers=bearer(token))
    if response.status_code == 200:
        assert response.json()["status"] == "cancelled"
    else:  # the worker was faster: the job already finished
        assert response.status_code == 409 and response.json()["code"] == "job_finished"
