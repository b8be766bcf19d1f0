from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragplatform import __version__
from ragplatform.cli import app
from ragplatform.db.migrate import head_revision
from tests.support import TEST_SECRET

runner = CliRunner()
HEAD = head_revision()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAG_ENV", "test")
    monkeypatch.setenv("RAG_AUTH__SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.stdout.startswith(f"ragplatform {__version__} (Python 3.")


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "migrate", "config", "version"):
        assert command in result.stdout


def test_config_show_masks_secrets(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_ADMIN_API_KEY", "rag_admin_key_0123456789abcdefghijkl")
    monkeypatch.setenv("RAG_DATABASE__URL", "postgresql://app:pg-pass-123@db.internal/rag")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    for secret in ("rag_admin_key", TEST_SECRET, "pg-pass-123"):
        assert secret not in result.stdout
    shown = json.loads(result.stdout)
    assert shown["auth"]["secret_key"] == "**********"
    assert shown["admin_api_key"] == "**********"
    assert shown["database"]["url"] == "postgresql+asyncpg://app:***@db.internal/rag"
    assert shown["log"]["effective_format"] == "json"


def test_bad_setting_is_one_line_and_exit_2(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_PORT", "abc")
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: RAG_PORT: Input should be a valid integer")
    assert "Traceback" not in result.output


def test_migrate_upgrade_current_downgrade(env: Path) -> None:
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(f"schema empty -> {HEAD}")
    assert (
        runner.invoke(app, ["migrate", "current"]).stdout.strip()
        == f"current: {HEAD}  head: {HEAD}"
    )
    down = runner.invoke(app, ["migrate", "downgrade", "base"])
    assert down.exit_code == 0 and down.stdout.strip().endswith(f"schema {HEAD} -> empty")
    up = runner.invoke(app, ["migrate", "upgrade", "head"])
    assert up.exit_code == 0 and up.stdout.strip().endswith(f"schema empty -> {HEAD}")


def test_migrate_to_unknown_revision_is_one_line(env: Path) -> None:
    result = runner.invoke(app, ["migrate", "upgrade", "9999"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: sqlite+aiosqlite:///")
    assert len(result.stderr.strip().splitlines()) == 1


def test_migrate_unreachable_database_is_one_line(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_DATABASE__URL", "postgresql://nobody:pw@127.0.0.1:1/none")
    monkeypatch.setenv("RAG_DATABASE__CONNECT_TIMEOUT_S", "1")
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot migrate the database at ")
    assert "pw@" not in result.stderr


def test_serve_refuses_unmigrated_database(env: Path) -> None:
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 1
    assert result.stderr.strip().endswith("has no schema yet: run `ragplatform migrate`")


def test_serve_refuses_unreachable_database(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_DATABASE__URL", "postgresql://u:secretpw@127.0.0.1:1/none")
    monkeypatch.setenv("RAG_DATABASE__CONNECT_TIMEOUT_S", "1")
    result = runner.invoke(app, ["serve", "--port", "8999"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "error: cannot reach the metadata database at postgresql+asyncpg://u:***@"
    )
    assert "secretpw" not in result.stderr


def test_admin_create_key_prints_a_working_platform_key(env: Path) -> None:
    from fastapi.testclient import TestClient

    from ragplatform.main import create_app
    from ragplatform.settings import load_settings

    assert runner.invoke(app, ["migrate"]).exit_code == 0
    result = runner.invoke(app, ["admin", "create-key", "--name", "ops"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("rag_") and len(key) > 40
    assert "shown only once" in result.stderr
    with TestClient(create_app(load_settings())) as client:
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200
    assert me.json()["role"] == "platform_admin"


def test_admin_create_key_needs_a_migrated_database(env: Path) -> None:
    result = runner.invoke(app, ["admin", "create-key"])
    assert result.exit_code == 1
    assert "run `ragplatform migrate`" in result.stderr


def test_ingest_defaults_to_the_local_server_without_server_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No secret key and RAG_ENV unset: a client command must not need the server's settings.
    monkeypatch.setenv("RAG_PORT", "1")
    (tmp_path / "a.txt").write_text("hello")
    result = runner.invoke(
        app, ["ingest", str(tmp_path / "a.txt"), "--collection", "c", "--api-key", "rag_x"]
    )
    assert result.exit_code == 1
    assert "cannot reach the server at http://127.0.0.1:1" in result.stderr


def test_ingest_bad_port_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_PORT", "abc")
    (tmp_path / "a.txt").write_text("hello")
    result = runner.invoke(
        app, ["ingest", str(tmp_path / "a.txt"), "--collection", "c", "--api-key", "rag_x"]
    )
    assert result.exit_code == 2 and result.stderr.startswith("error: RAG_PORT")


def test_bench_needs_a_known_name_and_a_checkout(tmp_path: Path) -> None:
    unknown = runner.invoke(app, ["bench", "fastest"])
    assert unknown.exit_code == 2 and "unknown benchmark 'fastest'" in unknown.output
    outside = runner.invoke(app, ["bench", "search"])  # the tests run from a temp dir
    assert outside.exit_code == 2 and "source checkout" in outside.output
