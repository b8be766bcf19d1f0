"""Per-tenant quotas: the limits that apply, the check, and setting them through the API."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from ragplatform.db.engine import Database
from ragplatform.errors import QuotaExceeded, RateLimited
from ragplatform.settings import QuotaSettings, Settings
from ragplatform.tenancy.models import Tenant
from ragplatform.tenancy.quotas import QUOTA_RETRY_AFTER_S, Usage, check_quota, limits_for
from tests.platform import ADMIN_KEY, Api, TenantFixture, bearer


def tenant(documents: int | None = None, stored: int | None = None) -> Tenant:
    return Tenant(
        id=uuid.uuid4(),
        slug="acme",
        name="Acme",
        status="active",
        quota_documents=documents,
        quota_bytes=stored,
    )


def test_limits_fall_back_to_the_defaults() -> None:
    assert limits_for(tenant(), QuotaSettings()) == (None, None)
    assert limits_for(tenant(), QuotaSettings(documents=100, bytes=5_000)) == (100, 5_000)


def test_a_tenant_quota_overrides_the_default() -> None:
    defaults = QuotaSettings(documents=100, bytes=5_000)
    assert limits_for(tenant(documents=7), defaults) == (7, 5_000)
    assert limits_for(tenant(stored=9), defaults) == (100, 9)
    assert limits_for(tenant(documents=500, stored=1), defaults) == (500, 1)
    # Zero is a quota (nothing allowed), not "unset".
    assert limits_for(tenant(documents=0, stored=0), defaults) == (0, 0)


def test_unlimited_passes_anything() -> None:
    check_quota(
        tenant(),
        QuotaSettings(),
        usage=Usage(documents=10**9, bytes=10**15),
        add_documents=10**6,
        add_bytes=10**12,
    )


def test_exactly_at_the_limit_passes() -> None:
    defaults = QuotaSettings(documents=10, bytes=1_000)
    check_quota(
        tenant(), defaults, usage=Usage(documents=9, bytes=900), add_documents=1, add_bytes=100
    )
    check_quota(
        tenant(documents=3, stored=30),
        defaults,
        usage=Usage(documents=0, bytes=0),
        add_documents=3,
        add_bytes=30,
    )


def test_exceeding_documents_raises() -> None:
    with pytest.raises(QuotaExceeded) as info:
        check_quota(
            tenant(documents=10),
            QuotaSettings(),
            usage=Usage(documents=10, bytes=0),
            add_documents=1,
            add_bytes=0,
        )
    error = info.value
    assert isinstance(error, RateLimited)
    assert error.code == "quota_exceeded"
    assert error.retry_after == QUOTA_RETRY_AFTER_S == 3600
    assert "document quota (10)" in error.detail


def test_exceeding_bytes_raises() -> None:
    with pytest.raises(QuotaExceeded) as info:
        check_quota(
            tenant(),
            QuotaSettings(bytes=1_000),
            usage=Usage(documents=0, bytes=900),
            add_documents=1,
            add_bytes=101,
        )
    assert info.value.code == "quota_exceeded"
    assert info.value.retry_after == 3600
    assert "1000 bytes" in info.value.detail


def test_a_tenant_quota_is_enforced_below_a_larger_default() -> None:
    with pytest.raises(QuotaExceeded):
        check_quota(
            tenant(documents=2),
            QuotaSettings(documents=1_000),
            usage=Usage(documents=2, bytes=0),
            add_documents=1,
            add_bytes=0,
        )


def test_a_tenant_quota_lifts_a_smaller_default() -> None:
    check_quota(
        tenant(stored=10_000),
        QuotaSettings(bytes=10),
        usage=Usage(documents=0, bytes=5_000),
        add_documents=0,
        add_bytes=5_000,
    )


def test_a_zero_quota_refuses_the_first_document() -> None:
    with pytest.raises(QuotaExceeded):
        check_quota(
            tenant(documents=0),
            QuotaSettings(),
            usage=Usage(documents=0, bytes=0),
            add_documents=1,
            add_bytes=1,
        )


def test_default_quotas_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        QuotaSettings(documents=-1)


# --- through the API -------------------------------------------------------------------------


def _stored(settings: Settings, tenant_id: str) -> Tenant:
    async def load() -> Tenant:
        db = Database(settings.database_url, settings.database)
        try:
            async with db.session() as session:
                row = await session.get(Tenant, uuid.UUID(tenant_id))
                assert row is not None
                return row
        finally:
            await db.dispose()

    return asyncio.run(load())


def test_patch_quotas_and_read_them_back(api: Api, acme: TenantFixture) -> None:
    url = f"/api/v1/tenants/{acme.id}"
    assert api.ok(api.client.get(url, headers=bearer(ADMIN_KEY)))["quota_documents"] is None

    body = api.ok(
        api.client.patch(
            url, json={"quota_documents": 5, "quota_bytes": 1_000}, headers=bearer(ADMIN_KEY)
        )
    )
    assert (body["quota_documents"], body["quota_bytes"]) == (5, 1_000)
    read = api.ok(api.client.get(url, headers=bearer(ADMIN_KEY)))
    assert (read["quota_documents"], read["quota_bytes"]) == (5, 1_000)
    assert read["name"] == "Acme" and read["status"] == "active"

    # The stored quota is what check_quota enforces.
    settings: Settings = api.client.app_state["settings"]
    row = _stored(settings, acme.id)
    assert limits_for(row, settings.quotas) == (5, 1_000)
    check_quota(row, settings.quotas, usage=Usage(4, 0), add_documents=1, add_bytes=1_000)
    with pytest.raises(QuotaExceeded):
        check_quota(row, settings.quotas, usage=Usage(5, 0), add_documents=1, add_bytes=0)

    # Changing one quota leaves the other; null clears it back to the default.
    one = api.ok(api.client.patch(url, json={"quota_bytes": 0}, headers=bearer(ADMIN_KEY)))
    assert (one["quota_documents"], one["quota_bytes"]) == (5, 0)
    cleared = api.ok(
        api.client.patch(url, json={"quota_documents": None}, headers=bearer(ADMIN_KEY))
    )
    assert (cleared["quota_documents"], cleared["quota_bytes"]) == (None, 0)
    assert limits_for(_stored(settings, acme.id), settings.quotas) == (None, 0)

    audit = api.ok(
        api.client.get(
            "/api/v1/audit-events", params={"action": "tenant.updated"}, headers=bearer(ADMIN_KEY)
        )
    )["items"]
    assert [e["detail"]["changes"] for e in audit] == [
        {"quota_documents": None},
        {"quota_bytes": 0},
        {"quota_documents": 5, "quota_bytes": 1_000},
    ]

    listed = api.ok(api.client.get("/api/v1/tenants", headers=bearer(ADMIN_KEY)))["items"]
    mine = next(t for t in listed if t["id"] == acme.id)
    assert (mine["quota_documents"], mine["quota_bytes"]) == (None, 0)


def test_quotas_can_be_set_at_creation(api: Api) -> None:
    created = api.create_tenant("initech", quota_documents=10, quota_bytes=2_048)
    assert (created["quota_documents"], created["quota_bytes"]) == (10, 2_048)


@pytest.mark.parametrize(
    "body",
    [
        {"quota_documents": -1},
        {"quota_bytes": -5},
        {"quota_bytes": 10**15 + 1},
        {"quota_documents": "many"},
        {"quota_documents": 1.5},
    ],
)
def test_invalid_quota_is_a_422_problem(
    api: Api, acme: TenantFixture, body: dict[str, object]
) -> None:
    url = f"/api/v1/tenants/{acme.id}"
    response = api.client.patch(url, json=body, headers=bearer(ADMIN_KEY))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "validation_error"
    field = next(iter(body))
    assert any(e["loc"] == ["body", field] for e in problem["errors"]), problem["errors"]
    # Nothing changed.
    read = api.ok(api.client.get(url, headers=bearer(ADMIN_KEY)))
    assert (read["quota_documents"], read["quota_bytes"]) == (None, None)


def test_negative_quota_at_creation_is_refused(api: Api) -> None:
    response = api.client.post(
        "/api/v1/tenants",
        json={"slug": "initech", "name": "Initech", "quota_documents": -1},
        headers=bearer(ADMIN_KEY),
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


def test_only_platform_admins_change_quotas(api: Api, acme: TenantFixture) -> None:
    response = api.client.patch(
        f"/api/v1/tenants/{acme.id}",
        json={"quota_documents": 10**9},
        headers=bearer(acme.owner_key),
    )
    assert response.status_code == 403
    read = api.ok(api.client.get(f"/api/v1/tenants/{acme.id}", headers=bearer(ADMIN_KEY)))
    assert read["quota_documents"] is None
