"""Request rates through HTTP: per key, per tenant, disabled, and shared through Redis."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ragplatform.main import create_app
from ragplatform.settings import Settings
from tests.conftest import platform_settings
from tests.platform import ADMIN_KEY, Api, bearer, make_tenant
from tests.support import require_service

ME = "/api/v1/auth/me"
REDIS_URL = "redis://127.0.0.1:6379/15"


@contextmanager
def serve(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def replica(settings: Settings) -> Settings:
    """Another replica: the same database, its own data dir (embedded stores are per process)."""
    values = settings.model_dump()
    values["auth"]["secret_key"] = settings.auth.secret_key.get_secret_value()
    values["admin_api_key"] = settings.admin_api_key.get_secret_value()  # type: ignore[union-attr]
    values["database"]["url"] = settings.database_url
    values["data_dir"] = settings.data_dir.with_name(settings.data_dir.name + "-replica")
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def me(client: TestClient, token: str) -> Any:
    return client.get(ME, headers=bearer(token))


def assert_rate_limited(response: Any) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit(), retry_after
    assert int(retry_after) >= 1
    body: dict[str, Any] = response.json()
    assert body["status"] == 429
    assert body["code"] == "rate_limited"
    assert body["type"] == "urn:ragplatform:problem:rate_limited"
    return body


def test_a_key_over_its_rate_gets_429_while_another_key_of_the_tenant_works(
    migrated: Settings,
) -> None:
    settings = platform_settings(
        migrated, rate_limits={"per_key": "3/minute", "per_tenant": "1000/minute"}
    )
    with serve(settings) as client:
        api = Api(client)
        # The admin key is limited too: these are its three requests of the minute.
        acme = make_tenant(api, "acme")
        other = api.create_key(ADMIN_KEY, role="viewer", tenant_id=acme.id)["key"]

        for _ in range(3):
            assert me(client, acme.owner_key).status_code == 200
        body = assert_rate_limited(me(client, acme.owner_key))
        assert "3/minute" in body["detail"]
        assert_rate_limited(me(client, acme.owner_key))

        answer = me(client, other)
        assert answer.status_code == 200, answer.text
        assert answer.json()["role"] == "viewer"
        # The platform admin key has used its three requests as well.
        assert_rate_limited(me(client, ADMIN_KEY))


def test_access_tokens_are_limited_per_user(migrated: Settings) -> None:
    settings = platform_settings(
        migrated, rate_limits={"per_key": "3/minute", "per_tenant": "1000/minute"}
    )
    with serve(settings) as client:
        api = Api(client)
        acme = make_tenant(api, "acme")
        api.create_user(acme.owner_key, "dana@acme.example", role="editor")
        access = api.login("acme", "dana@acme.example")["access_token"]

        for _ in range(3):
            assert me(client, access).status_code == 200
        assert_rate_limited(me(client, access))
        # The owner key used one request (creating the user): it still has two.
        assert me(client, acme.owner_key).status_code == 200


def test_keys_of_one_tenant_share_the_tenant_rate(migrated: Settings) -> None:
    settings = platform_settings(
        migrated, rate_limits={"per_key": "1000/minute", "per_tenant": "3/minute"}
    )
    with serve(settings) as client:
        api = Api(client)
        acme = make_tenant(api, "acme")
        second = api.create_key(ADMIN_KEY, role="viewer", tenant_id=acme.id)["key"]
        globex = make_tenant(api, "globex")

        assert me(client, acme.owner_key).status_code == 200
        assert me(client, second).status_code == 200
        assert me(client, acme.owner_key).status_code == 200
        body = assert_rate_limited(me(client, second))
        assert "3/minute" in body["detail"]
        assert_rate_limited(me(client, acme.owner_key))

        # Another tenant has its own budget, and platform keys have no tenant rate.
        for _ in range(3):
            assert me(client, globex.owner_key).status_code == 200
        assert me(client, ADMIN_KEY).status_code == 200


def test_disabled_rate_limits_never_answer_429(migrated: Settings) -> None:
    settings = platform_settings(
        migrated, rate_limits={"enabled": False, "per_key": "1/minute", "per_tenant": "1/minute"}
    )
    with serve(settings) as client:
        api = Api(client)
        acme = make_tenant(api, "acme")
        for _ in range(6):
            assert me(client, acme.owner_key).status_code == 200
            assert me(client, ADMIN_KEY).status_code == 200


def test_in_memory_limits_are_per_process(migrated: Settings) -> None:
    """Without Redis, two replicas count separately (and /readyz has no redis check)."""
    settings = platform_settings(
        migrated, rate_limits={"per_key": "3/minute", "per_tenant": "1000/minute"}
    )
    with serve(settings) as first, serve(replica(settings)) as second:
        acme = make_tenant(Api(first), "acme")
        for _ in range(3):
            assert me(first, acme.owner_key).status_code == 200
        assert_rate_limited(me(first, acme.owner_key))
        assert me(second, acme.owner_key).status_code == 200

        ready = first.get("/readyz")
        assert ready.status_code == 200
        assert "redis" not in ready.json()["checks"]
        assert {"database", "vector_store", "embedder"} <= set(ready.json()["checks"])


@pytest.fixture
def redis_settings(migrated: Settings) -> Settings:
    require_service("Redis", "127.0.0.1", 6379)
    return platform_settings(
        migrated,
        rate_limits={"per_key": "4/minute", "per_tenant": "1000/minute"},
        redis={"url": REDIS_URL},
    )


@pytest.mark.redis
def test_two_replicas_share_the_limit_through_redis(redis_settings: Settings) -> None:
    with ExitStack() as stack:
        first = stack.enter_context(serve(redis_settings))
        second = stack.enter_context(serve(replica(redis_settings)))
        acme = make_tenant(Api(first), "acme")  # two of the admin key's four requests

        # Four requests split across both replicas use up the key's rate ...
        assert me(first, acme.owner_key).status_code == 200
        assert me(second, acme.owner_key).status_code == 200
        assert me(first, acme.owner_key).status_code == 200
        assert me(second, acme.owner_key).status_code == 200
        # ... so both replicas refuse the fifth.
        assert_rate_limited(me(first, acme.owner_key))
        assert_rate_limited(me(second, acme.owner_key))

        # The admin key's count is shared too: two used on `first`, two left on `second`.
        assert me(second, ADMIN_KEY).status_code == 200
        assert me(second, ADMIN_KEY).status_code == 200
        assert_rate_limited(me(first, ADMIN_KEY))


@pytest.mark.redis
def test_readyz_lists_the_redis_check(redis_settings: Settings) -> None:
    with serve(redis_settings) as client:
        response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["redis"]["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"


def test_unreachable_redis_fails_readiness_and_answers_503(migrated: Settings) -> None:
    settings = platform_settings(migrated, redis={"url": "redis://127.0.0.1:1/0"})
    with serve(settings) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert body["code"] == "not_ready"
        assert body["checks"]["redis"]["status"] == "failed"
        assert body["checks"]["database"]["status"] == "ok"

        response = me(client, ADMIN_KEY)
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "rate_limiter_unavailable"
        assert int(response.headers["retry-after"]) >= 1
