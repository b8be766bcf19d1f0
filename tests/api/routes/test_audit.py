"""/api/v1/audit-events and the tenant-deletion job, through HTTP."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from ragplatform.db.engine import Database
from ragplatform.jobs.models import Job
from ragplatform.settings import Settings
from tests.platform import ADMIN_KEY, Api, TenantFixture, bearer, make_tenant

AUDIT = "/api/v1/audit-events"


def page(api: Api, token: str, **params: Any) -> dict[str, Any]:
    return api.ok(api.client.get(AUDIT, params=params, headers=bearer(token)))  # type: ignore[no-any-return]


def all_events(api: Api, token: str, **params: Any) -> list[dict[str, Any]]:
    body = page(api, token, limit=200, **params)
    assert body["next_cursor"] is None
    return body["items"]  # type: ignore[no-any-return]


def actions(events: list[dict[str, Any]]) -> list[str]:
    return [e["action"] for e in events]


def one(events: list[dict[str, Any]], action: str, **match: Any) -> dict[str, Any]:
    found = [
        e for e in events if e["action"] == action and all(e[k] == v for k, v in match.items())
    ]
    assert len(found) == 1, (action, match, actions(events))
    return found[0]


def key_id(api: Api, token: str) -> str:
    return api.ok(api.client.get("/api/v1/auth/me", headers=bearer(token)))["id"]  # type: ignore[no-any-return]


def test_key_and_user_changes_are_recorded(api: Api, acme: TenantFixture) -> None:
    owner_id = key_id(api, acme.owner_key)
    key = api.create_key(acme.owner_key, role="editor", name="ci")
    revoke = api.client.delete(f"/api/v1/api-keys/{key['id']}", headers=bearer(acme.owner_key))
    assert revoke.status_code == 204
    user = api.create_user(acme.owner_key, "dana@acme.example", role="viewer")
    patched = api.client.patch(
        f"/api/v1/users/{user['id']}", json={"role": "editor"}, headers=bearer(acme.owner_key)
    )
    assert patched.status_code == 200
    deleted = api.client.delete(f"/api/v1/users/{user['id']}", headers=bearer(acme.owner_key))
    assert deleted.status_code == 204

    events = all_events(api, acme.owner_key)
    actor = f"api_key:{owner_id}"
    created = one(events, "api_key.created", target_id=key["id"])
    assert created["actor"] == actor and created["tenant_id"] == acme.id
    assert created["target_type"] == "api_key"
    assert created["detail"] == {"name": "ci", "role": "editor", "prefix": key["prefix"]}
    revoked = one(events, "api_key.revoked", target_id=key["id"])
    assert revoked["actor"] == actor and revoked["detail"]["prefix"] == key["prefix"]

    user_created = one(events, "user.created", target_id=user["id"])
    assert user_created["detail"] == {"email": "dana@acme.example", "role": "viewer"}
    updated = one(events, "user.updated", target_id=user["id"])
    assert updated["detail"] == {"changes": {"role": "editor"}}
    assert updated["actor"] == actor and updated["target_type"] == "user"
    user_deleted = one(events, "user.deleted", target_id=user["id"])
    assert user_deleted["detail"] == {"email": "dana@acme.example"}
    for event in events:
        assert event["tenant_id"] == acme.id
        assert event["request_id"]

    # The owner key itself was created by the platform admin, inside acme.
    owner_created = one(events, "api_key.created", target_id=owner_id)
    assert owner_created["actor"].startswith("api_key:") and owner_created["actor"] != actor


def test_request_id_is_recorded(api: Api, acme: TenantFixture) -> None:
    response = api.client.post(
        "/api/v1/api-keys",
        json={"name": "traced", "role": "viewer"},
        headers={**bearer(acme.owner_key), "X-Request-ID": "audit-trace-1"},
    )
    assert response.status_code == 201
    event = one(all_events(api, acme.owner_key), "api_key.created", target_id=response.json()["id"])
    assert event["request_id"] == "audit-trace-1"


def test_tenant_events_are_platform_level(api: Api, acme: TenantFixture) -> None:
    renamed = api.client.patch(
        f"/api/v1/tenants/{acme.id}", json={"name": "Acme Corp"}, headers=bearer(ADMIN_KEY)
    )
    assert renamed.status_code == 200

    platform = all_events(api, ADMIN_KEY)
    created = one(platform, "tenant.created", target_id=acme.id)
    assert created["tenant_id"] is None and created["target_type"] == "tenant"
    assert created["detail"] == {"slug": "acme"}
    updated = one(platform, "tenant.updated", target_id=acme.id)
    assert updated["tenant_id"] is None
    assert updated["detail"] == {"changes": {"name": "Acme Corp"}}
    assert created["actor"] == updated["actor"] == f"api_key:{key_id(api, ADMIN_KEY)}"

    # The platform admin also sees tenant-level events; the tenant admin sees no platform ones.
    assert "api_key.created" in actions(platform)
    tenant_view = all_events(api, acme.owner_key)
    assert not {"tenant.created", "tenant.updated"} & set(actions(tenant_view))
    assert all(e["tenant_id"] == acme.id for e in tenant_view)


def test_logins_are_recorded(api: Api, acme: TenantFixture) -> None:
    user = api.create_user(acme.owner_key, "dana@acme.example", role="editor")
    api.login("acme", "dana@acme.example")
    api.login("acme", "dana@acme.example", "wrong-password-123", status=401)
    api.login("no-such-tenant", "dana@acme.example", status=401)

    events = all_events(api, acme.owner_key)
    succeeded = one(events, "login.succeeded")
    assert succeeded["actor"] == f"user:{user['id']}"
    assert succeeded["target_id"] == user["id"] and succeeded["tenant_id"] == acme.id
    assert set(succeeded["detail"]) == {"client"}
    failed = one(events, "login.failed")
    assert failed["actor"] == "anonymous" and failed["target_id"] == user["id"]
    assert failed["detail"]["email"] == "dana@acme.example"
    assert failed["detail"]["tenant"] == "acme"
    assert "password" not in failed["detail"]

    # A failure naming an unknown tenant belongs to no tenant: only the platform admin sees it.
    unknown = one(all_events(api, ADMIN_KEY), "login.failed", tenant_id=None)
    assert unknown["detail"]["tenant"] == "no-such-tenant"
    assert unknown["target_id"] is None


def test_events_are_newest_first_and_pages_walk_all_without_duplicates(
    api: Api, acme: TenantFixture
) -> None:
    for n in range(5):
        api.create_key(acme.owner_key, role="viewer", name=f"key-{n}")
    everything = all_events(api, acme.owner_key)
    assert len(everything) >= 6
    stamps = [datetime.fromisoformat(e["at"]) for e in everything]
    assert stamps == sorted(stamps, reverse=True)
    names = [e["detail"]["name"] for e in everything if e["action"] == "api_key.created"]
    assert names[:5] == ["key-4", "key-3", "key-2", "key-1", "key-0"]

    walked: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = page(api, acme.owner_key, **params)
        assert len(body["items"]) <= 2
        walked += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert pages < 50
    ids = [e["id"] for e in walked]
    assert len(ids) == len(set(ids))
    assert ids == [e["id"] for e in everything]
    assert pages == -(-len(everything) // 2)  # no empty trailing page


def test_action_filter(api: Api, acme: TenantFixture) -> None:
    api.create_key(acme.owner_key, role="viewer", name="a")
    api.create_user(acme.owner_key, "dana@acme.example")
    only_keys = all_events(api, acme.owner_key, action="api_key.created")
    assert only_keys and set(actions(only_keys)) == {"api_key.created"}
    only_users = all_events(api, acme.owner_key, action="user.created")
    assert actions(only_users) == ["user.created"]
    assert all_events(api, acme.owner_key, action="no.such.action") == []

    # Filtered pages walk too.
    first = page(api, acme.owner_key, action="api_key.created", limit=1)
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = page(
        api, acme.owner_key, action="api_key.created", limit=1, cursor=first["next_cursor"]
    )
    assert [e["action"] for e in second["items"]] == ["api_key.created"]
    assert second["items"][0]["id"] != first["items"][0]["id"]


def test_viewer_and_editor_keys_are_refused(api: Api, acme: TenantFixture) -> None:
    for role in ("viewer", "editor"):
        key = api.create_key(acme.owner_key, role=role)["key"]
        response = api.client.get(AUDIT, headers=bearer(key))
        assert response.status_code == 403, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "permission_denied"
    assert api.client.get(AUDIT).status_code == 401


def test_a_tenant_admin_never_sees_another_tenants_events(
    api: Api, acme: TenantFixture, globex: TenantFixture
) -> None:
    acme_user = api.create_user(acme.owner_key, "dana@acme.example")
    api.login("acme", "dana@acme.example", "wrong-password-123", status=401)
    globex_admin = api.create_key(globex.owner_key, role="admin")["key"]
    api.create_user(globex.owner_key, "eve@globex.example")

    for token in (globex.owner_key, globex_admin):
        events = all_events(api, token)
        assert events
        assert all(e["tenant_id"] == globex.id for e in events)
        assert acme_user["id"] not in {e["target_id"] for e in events}
        assert "login.failed" not in actions(events)
        assert all_events(api, token, action="login.failed") == []

    acme_events = all_events(api, acme.owner_key)
    assert all(e["tenant_id"] == acme.id for e in acme_events)
    assert "eve@globex.example" not in str(acme_events)

    # The platform admin sees both tenants.
    platform = all_events(api, ADMIN_KEY)
    assert {acme.id, globex.id, None} <= {e["tenant_id"] for e in platform}


def test_a_cursor_from_another_tenant_reveals_nothing(
    api: Api, acme: TenantFixture, globex: TenantFixture
) -> None:
    for n in range(3):
        api.create_key(acme.owner_key, role="viewer", name=f"k{n}")
    cursor = page(api, acme.owner_key, limit=1)["next_cursor"]
    assert cursor
    events = page(api, globex.owner_key, cursor=cursor, limit=200)["items"]
    assert all(e["tenant_id"] == globex.id for e in events)


def test_an_invalid_cursor_is_a_422_problem(api: Api, acme: TenantFixture) -> None:
    for cursor in ("not-a-cursor", "bm9wZQ", "W10"):
        response = api.client.get(AUDIT, params={"cursor": cursor}, headers=bearer(acme.owner_key))
        assert response.status_code == 422, (cursor, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["status"] == 422
        assert body["code"] == "invalid_input"
        assert "cursor" in body["detail"]


# --- tenant deletion -------------------------------------------------------------------------


def wait_for_job(api: Api, job_id: str, timeout_s: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        job = api.ok(api.client.get(f"/api/v1/jobs/{job_id}", headers=bearer(ADMIN_KEY)))
        if job["status"] in {"succeeded", "failed", "cancelled"} or time.monotonic() > deadline:
            return job  # type: ignore[no-any-return]
        time.sleep(0.05)


TENANT_TABLES = ("users", "api_keys", "refresh_tokens", "revoked_tokens", "audit_events", "jobs")


def _rows_of(settings: Settings, tenant_id: str) -> dict[str, int]:
    async def count() -> dict[str, int]:
        db = Database(settings.database_url, settings.database)
        ident = uuid.UUID(tenant_id)
        # SQLite stores UUIDs as 32 hex digits, PostgreSQL as uuid: bind what each expects.
        bound: Any = ident.hex if db.backend == "sqlite" else ident
        try:
            out: dict[str, int] = {}
            async with db.session() as session:
                for table in TENANT_TABLES:
                    stmt = text(f"SELECT count(*) FROM {table} WHERE tenant_id = :t")
                    out[table] = int((await session.execute(stmt, {"t": bound})).scalar_one())
                stmt = text("SELECT count(*) FROM tenants WHERE id = :t")
                out["tenants"] = int((await session.execute(stmt, {"t": bound})).scalar_one())
            return out
        finally:
            await db.dispose()

    return asyncio.run(count())


def _add_tenant_job(settings: Settings, tenant_id: str) -> None:
    async def add() -> None:
        db = Database(settings.database_url, settings.database)
        try:
            async with db.session() as session:
                session.add(
                    Job(
                        id=uuid.uuid4(),
                        tenant_id=uuid.UUID(tenant_id),
                        kind="test.finished",
                        status="succeeded",
                        payload={},
                    )
                )
                await session.commit()
                assert await session.scalar(
                    select(Job.id).where(Job.tenant_id == uuid.UUID(tenant_id))
                )
        finally:
            await db.dispose()

    asyncio.run(add())


def test_tenant_deletion_removes_every_row_and_file(any_api: Api) -> None:
    api = any_api
    settings: Settings = api.client.app_state["settings"]
    acme = make_tenant(api, "acme")
    globex = make_tenant(api, "globex")

    # Give acme rows in every tenant table and a stored file.
    api.create_user(acme.owner_key, "dana@acme.example", role="editor")
    tokens = api.login("acme", "dana@acme.example")
    api.login("acme", "dana@acme.example", "wrong-password-123", status=401)
    second = api.login("acme", "dana@acme.example")
    logout = api.client.post(
        "/api/v1/auth/logout",
        json={"refresh_token": second["refresh_token"]},
        headers=bearer(second["access_token"]),
    )
    assert logout.status_code == 204
    viewer = api.create_key(acme.owner_key, role="viewer")["key"]
    _add_tenant_job(settings, acme.id)
    files = Path(settings.data_dir) / "tenants" / acme.id
    (files / "originals").mkdir(parents=True)
    (files / "originals" / "report.txt").write_text("acme's data")

    before = _rows_of(settings, acme.id)
    assert all(before[t] >= 1 for t in (*TENANT_TABLES, "tenants")), before

    accepted = api.client.delete(f"/api/v1/tenants/{acme.id}", headers=bearer(ADMIN_KEY))
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["job_id"]
    assert accepted.json()["status"] == "queued"

    job = wait_for_job(api, job_id)
    assert job["status"] == "succeeded", job
    assert job["kind"] == "tenant.delete" and job["error"] is None and job["progress"] == 1.0

    for credential in (acme.owner_key, viewer, tokens["access_token"]):
        response = api.client.get("/api/v1/auth/me", headers=bearer(credential))
        assert response.status_code == 401, response.text
    refreshed = api.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401
    api.login("acme", "dana@acme.example", status=401)
    gone = api.client.get(f"/api/v1/tenants/{acme.id}", headers=bearer(ADMIN_KEY))
    assert gone.status_code == 404
    assert gone.json()["code"] == "not_found"

    platform = all_events(api, ADMIN_KEY)
    requested = one(platform, "tenant.deletion_requested", target_id=acme.id)
    assert requested["tenant_id"] is None
    assert requested["detail"] == {"slug": "acme", "job_id": job_id}
    deleted = one(platform, "tenant.deleted", target_id=acme.id)
    assert deleted["tenant_id"] is None and deleted["actor"] == "system"
    assert deleted["detail"] == {"slug": "acme", "job_id": job_id}
    assert actions(platform).index("tenant.deleted") < actions(platform).index(
        "tenant.deletion_requested"
    )
    assert all(e["tenant_id"] != acme.id for e in platform)

    after = _rows_of(settings, acme.id)
    assert after == dict.fromkeys((*TENANT_TABLES, "tenants"), 0), after
    assert not files.exists()

    # The other tenant is untouched.
    assert _rows_of(settings, globex.id)["tenants"] == 1
    assert api.client.get("/api/v1/auth/me", headers=bearer(globex.owner_key)).status_code == 200
    # The slug is free again.
    assert api.create_tenant("acme")["slug"] == "acme"


def test_a_tenant_being_deleted_is_locked_out_at_once(api: Api, acme: TenantFixture) -> None:
    accepted = api.client.delete(f"/api/v1/tenants/{acme.id}", headers=bearer(ADMIN_KEY))
    assert accepted.status_code == 202
    # Whether or not the job has run yet, the tenant's credentials stop working now.
    assert api.client.get("/api/v1/auth/me", headers=bearer(acme.owner_key)).status_code == 401
    again = api.client.delete(f"/api/v1/tenants/{acme.id}", headers=bearer(ADMIN_KEY))
    assert again.status_code in {404, 409}, again.text
    assert wait_for_job(api, accepted.json()["job_id"])["status"] == "succeeded"
    response = api.client.get("/api/v1/auth/me", headers=bearer(acme.owner_key))
    assert response.status_code == 401
    unknown = api.client.delete(f"/api/v1/tenants/{uuid.uuid4()}", headers=bearer(ADMIN_KEY))
    assert unknown.status_code == 404


def test_only_platform_admins_delete_tenants(api: Api, acme: TenantFixture) -> None:
    response = api.client.delete(f"/api/v1/tenants/{acme.id}", headers=bearer(acme.owner_key))
    assert response.status_code == 403
    assert api.client.get("/api/v1/auth/me", headers=bearer(acme.owner_key)).status_code == 200
    assert "tenant.deletion_requested" not in actions(all_events(api, ADMIN_KEY))
