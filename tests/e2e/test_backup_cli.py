"""The backup commands against real ``ragplatform serve`` processes (ARCHITECTURE §9): a served
data dir is backed up through the server's API; tenants move between two running servers."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_server import cli, free_port, server_env, start_server

pytestmark = pytest.mark.e2e
ADMIN = "rag_backup_cli_admin_key_0123456789abcdef"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}


@contextmanager
def running(env: dict[str, str]) -> Iterator[str]:
    """A migrated server on a free port; its base URL (RAG_PORT is set for client commands)."""
    assert cli("migrate", env=env).returncode == 0
    base, proc = start_server(env)
    try:
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    return server_env(data_dir, RAG_ADMIN_API_KEY=ADMIN, RAG_PORT=str(free_port()), **extra)


def _acme(base: str) -> str:
    """Tenant acme with two indexed documents; its owner key."""
    tenant = httpx.post(
        f"{base}/api/v1/tenants", json={"slug": "acme", "name": "Acme"}, headers=ADMIN_HEADERS
    ).json()
    key = httpx.post(
        f"{base}/api/v1/api-keys",
        json={"name": "o", "role": "owner", "tenant_id": tenant["id"]},
        headers=ADMIN_HEADERS,
    ).json()["key"]
    auth = {"Authorization": f"Bearer {key}"}
    collection = httpx.post(f"{base}/api/v1/collections", json={"name": "wiki"}, headers=auth)
    files = [
        ("files", ("otters.txt", b"Sea otters hold hands while they sleep.")),
        ("files", ("beavers.md", b"# Beavers\n\nBeavers build dams from branches and mud.")),
    ]
    uploaded = httpx.post(
        f"{base}/api/v1/collections/{collection.json()['id']}/documents", files=files, headers=auth
    ).json()["documents"]
    for doc in uploaded:
        deadline = time.monotonic() + 120
        while httpx.get(f"{base}/api/v1/documents/{doc['id']}", headers=auth).json()[
            "status"
        ] not in ("ready", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
    return str(key)


def _hits(base: str, key: str) -> list[tuple[Any, ...]]:
    response = httpx.post(
        f"{base}/api/v1/search",
        json={"query": "which animal sleeps holding hands", "top_k": 2},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    return [(h["chunk_id"], round(h["score"], 5)) for h in response.json()["hits"]]


def test_backups_and_tenant_moves_through_running_servers(tmp_path: Path) -> None:
    env_a = _env(tmp_path / "a")
    env_b = _env(tmp_path / "b")
    online, moved = tmp_path / "online.tar.gz", tmp_path / "acme.tar"
    with running(env_a) as base_a:
        key = _acme(base_a)
        expected = _hits(base_a, key)
        # no --server: the data dir is held by the server, so the command goes through it
        refused = cli("backup", "--out", str(online), env=env_a)
        assert refused.returncode == 2 and "--api-key" in refused.stderr
        made = cli("backup", "--out", str(online), env=env_a | {"RAG_API_KEY": ADMIN}, timeout=300)
        assert made.returncode == 0, made.stderr
        assert made.stdout.startswith(f"wrote {online}") and "2 document(s)" in made.stdout
        busy = cli("restore", str(online), env=env_a)
        assert busy.returncode == 1 and "restore only into an empty" in busy.stderr
        wrong = cli(
            "tenants", "export", "acme", "-o", str(moved), "--server", base_a,
            env=env_a | {"RAG_API_KEY": "rag_" + "x" * 40},
        )  # fmt: skip
        assert wrong.returncode == 1 and "(401 " in wrong.stderr
        exported = cli(
            "tenants", "export", "acme", "-o", str(moved), "--server", base_a,
            env=env_a | {"RAG_API_KEY": ADMIN}, timeout=300,
        )  # fmt: skip
        assert exported.returncode == 0, exported.stderr
        with running(env_b) as base_b:
            imported = cli(
                "tenants", "import", str(moved), "--server", base_b,
                env=env_b | {"RAG_API_KEY": ADMIN}, timeout=300,
            )  # fmt: skip
            assert imported.returncode == 0, imported.stderr
            assert imported.stdout.startswith("imported tenant acme: 2 document(s)")
            assert _hits(base_b, key) == expected  # the same key, the same answers
            again = cli(
                "tenants", "import", str(moved), "--server", base_b,
                env=env_b | {"RAG_API_KEY": ADMIN},
            )  # fmt: skip
            assert again.returncode == 1 and "already exists" in again.stderr
    gone = cli("backup", "-o", str(tmp_path / "x.tar"), "--server", base_a,
               env=env_a | {"RAG_API_KEY": ADMIN})  # fmt: skip
    assert gone.returncode == 1 and "cannot reach the server" in gone.stderr

    env_c = _env(tmp_path / "c")
    restored = cli("restore", str(online), env=env_c, timeout=300)
    assert restored.returncode == 0, restored.stderr
    with running(env_c) as base_c:
        assert _hits(base_c, key) == expected
