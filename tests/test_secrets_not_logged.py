"""No credential ever reaches a log line or an audit record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from ragplatform.observability.logging import configure_logging
from tests.platform import ADMIN_KEY, Api, bearer, make_tenant
from tests.support import TEST_SECRET

PASSWORD = "Unlogged-Passphrase-93-zebra"
NEW_PASSWORD = "Rotated-Passphrase-57-otter"
WRONG_PASSWORD = "Mistyped-Passphrase-21-heron"


def _variants(name: str, value: str) -> dict[str, str]:
    """The value and the parts of it that are secret on their own."""
    out = {name: value}
    if value.startswith("rag_"):
        out[f"{name} (after its display prefix)"] = value[12:]
    if value.count(".") == 2:  # a JWT: its signature proves possession
        out[f"{name} (signature)"] = value.rsplit(".", 1)[1]
    return out


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture
def restore_logging(api: Api, capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """After the test, log to the real stderr again: the app still logs as it shuts down."""
    yield
    with capsys.disabled():
        configure_logging("INFO", "json")


@pytest.mark.usefixtures("restore_logging")
def test_no_secret_in_logs_or_audit_records(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    # Inside the test: capsys swaps its stream per phase, and the handler binds to it now.
    configure_logging("DEBUG", "json")
    client = api.client

    acme = make_tenant(api, "acme")
    user = api.create_user(acme.owner_key, "dana@acme.example", role="admin", password=PASSWORD)
    first = api.login("acme", "dana@acme.example", PASSWORD)
    refreshed = api.ok(
        client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    )
    # Reusing the spent refresh token is refused (and audited) without leaking it.
    reused = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    second = api.login("acme", "dana@acme.example", PASSWORD)
    created = api.create_key(second["access_token"], role="editor")
    api.ok(
        client.patch(
            f"/api/v1/users/{user['id']}",
            json={"password": NEW_PASSWORD},
            headers=bearer(acme.owner_key),
        )
    )
    api.login("acme", "dana@acme.example", WRONG_PASSWORD, status=401)
    third = api.login("acme", "dana@acme.example", NEW_PASSWORD)
    api.ok(
        client.post(
            "/api/v1/auth/logout",
            json={"refresh_token": third["refresh_token"]},
            headers=bearer(third["access_token"]),
        ),
        204,
    )
    # A revoked access token and a bogus credential are refused (and logged) without echo.
    assert client.get("/api/v1/auth/me", headers=bearer(third["access_token"])).status_code == 401
    assert client.get("/api/v1/auth/me", headers=bearer("rag_" + "x" * 40)).status_code == 401

    audit_bodies = [
        client.get("/api/v1/audit-events", params={"limit": 200}, headers=bearer(token))
        for token in (ADMIN_KEY, acme.owner_key)
    ]
    for response in audit_bodies:
        assert response.status_code == 200, response.text
    logs = capsys.readouterr().err

    secrets: dict[str, str] = {
        "password": PASSWORD,
        "new password": NEW_PASSWORD,
        "wrong password": WRONG_PASSWORD,
        "auth secret key": TEST_SECRET,
    }
    for name, value in (
        ("platform admin key", ADMIN_KEY),
        ("owner key", acme.owner_key),
        ("created key", created["key"]),
    ):
        secrets |= _variants(name, value)
    for label, pair in (("first", first), ("refreshed", refreshed), ("second", second)):
        secrets |= _variants(f"{label} access token", pair["access_token"])
        secrets |= _variants(f"{label} refresh token", pair["refresh_token"])
    secrets |= _variants("third access token", third["access_token"])
    secrets |= _variants("third refresh token", third["refresh_token"])

    # The capture worked: the flow's requests were logged.
    records = _json_lines(logs)
    routes = {r.get("route") for r in records if r.get("event") == "request"}
    assert {"/api/v1/auth/token", "/api/v1/auth/refresh", "/api/v1/api-keys"} <= routes, routes

    for line in logs.splitlines():
        for name, value in secrets.items():
            assert value not in line, f"the {name} was logged: {line[:300]}"

    events = [e for r in audit_bodies for e in r.json()["items"]]
    recorded = {e["action"] for e in events}
    assert {
        "api_key.created",
        "user.created",
        "user.updated",
        "login.succeeded",
        "login.failed",
        "refresh_token.reused",
        "logout",
    } <= recorded, recorded
    for event in events:
        dumped = json.dumps(event)
        for name, value in secrets.items():
            assert value not in dumped, f"the {name} is in audit record {event['action']}"
    password_change = next(
        e for e in events if e["action"] == "user.updated" and e["target_id"] == user["id"]
    )
    assert password_change["detail"] == {"changes": {"password_changed": True}}
