"""``ragplatform backup|restore|tenants export|import`` on data dirs nobody serves, and the
one-line answers when a server holds the data dir."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ragplatform.adapters.vectorstores.qdrant_edge import QdrantEdgeStore
from ragplatform.backup_cli import _run
from ragplatform.cli import app
from ragplatform.errors import StartupError
from tests.backup.support import populate, serving
from tests.e2e.test_server import free_port
from tests.support import TEST_SECRET, make_settings, migrate_to_head

runner = CliRunner()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with tenant acme and its indexed documents."""
    settings = make_settings(tmp_path_factory.mktemp("cli") / "data")
    migrate_to_head(settings)
    with serving(settings) as api:
        populate(api, ("acme",))
    return settings.data_dir


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch) -> object:
    """Point the commands at a data dir."""
    monkeypatch.setenv("RAG_ENV", "test")
    monkeypatch.setenv("RAG_AUTH__SECRET_KEY", TEST_SECRET)

    def point(data_dir: Path) -> None:
        monkeypatch.setenv("RAG_DATA_DIR", str(data_dir))

    return point


def _one_line_error(result: object, code: int) -> str:
    assert result.exit_code == code, result.output  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert lines[-1].startswith("error: "), lines
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    return str(lines[-1])


def test_backup_then_restore_offline(source: Path, use: object, tmp_path: Path) -> None:
    use(source)  # type: ignore[operator]
    archive = tmp_path / "platform.tar.gz"
    made = runner.invoke(app, ["backup", "--out", str(archive)])
    assert made.exit_code == 0, made.output
    assert made.stdout.startswith(f"wrote {archive} (") and "1 tenant(s)" in made.stdout
    assert "exporting chunks" in made.stderr  # progress for the long parts
    assert not archive.with_name(archive.name + ".partial").exists()
    again = runner.invoke(app, ["backup", "--out", str(archive)])
    assert "already exists" in _one_line_error(again, 2)

    use(tmp_path / "restored")  # type: ignore[operator]
    restored = runner.invoke(app, ["restore", str(archive)])
    assert restored.exit_code == 0, restored.output
    assert restored.stdout.startswith("restored 1 tenant(s),")
    twice = runner.invoke(app, ["restore", str(archive)])
    assert "restore only into an empty" in _one_line_error(twice, 1)

    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(archive.read_bytes()[:-100])
    use(tmp_path / "other")  # type: ignore[operator]
    refused = runner.invoke(app, ["restore", str(broken)])
    assert "archive" in _one_line_error(refused, 1)
    assert not (tmp_path / "other").exists()


def test_tenant_export_then_import_offline(source: Path, use: object, tmp_path: Path) -> None:
    use(source)  # type: ignore[operator]
    archive = tmp_path / "acme.tar"
    exported = runner.invoke(app, ["tenants", "export", "acme", "--out", str(archive)])
    assert exported.exit_code == 0, exported.output
    missing = runner.invoke(app, ["tenants", "export", "nobody", "--out", str(tmp_path / "n.tar")])
    assert "no tenant with slug 'nobody'" in _one_line_error(missing, 1)
    assert not (tmp_path / "n.tar").exists() and not (tmp_path / "n.tar.partial").exists()

    target = make_settings(tmp_path / "target")
    migrate_to_head(target)
    use(target.data_dir)  # type: ignore[operator]
    imported = runner.invoke(app, ["tenants", "import", str(archive)])
    assert imported.exit_code == 0, imported.output
    assert imported.stdout.startswith("imported tenant acme: 1 tenant(s),")
    again = runner.invoke(app, ["tenants", "import", str(archive)])
    assert "slug 'acme' already exists" in _one_line_error(again, 1)
    nothing = runner.invoke(app, ["tenants", "import", str(tmp_path / "nope.tar")])
    assert "no such file" in _one_line_error(nothing, 2)


def test_a_data_dir_held_by_a_server_is_detected(
    source: Path, use: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(source)  # type: ignore[operator]
    archive = tmp_path / "acme.tar"
    assert runner.invoke(app, ["tenants", "export", "acme", "-o", str(archive)]).exit_code == 0
    shard = QdrantEdgeStore.path_for(
        source, collection_prefix="ragplatform", model="all-MiniLM-L6-v2", dimension=384
    )
    held = QdrantEdgeStore.open(shard, dimension=384, indexing_threshold_kb=20_000)
    try:
        plain = runner.invoke(app, ["backup", "--out", str(tmp_path / "x.tar")])
        line = _one_line_error(plain, 2)
        assert "in use by another ragplatform process" in line and "--api-key" in line
        assert not (tmp_path / "x.tar").exists() and not (tmp_path / "x.tar.partial").exists()
        port = free_port()  # nothing listens there: the command says so in one line
        monkeypatch.setenv("RAG_PORT", str(port))
        monkeypatch.setenv("RAG_API_KEY", "rag_" + "k" * 40)
        through = runner.invoke(app, ["tenants", "export", "acme", "--out", str(tmp_path / "y")])
        assert f"cannot reach the server at http://127.0.0.1:{port}" in _one_line_error(through, 1)
        monkeypatch.delenv("RAG_API_KEY")
        into_held = runner.invoke(app, ["tenants", "import", str(archive)])
        line = _one_line_error(into_held, 2)
        assert "in use" in line and "to import through it" in line
    finally:
        asyncio.run(held.close())


def test_remote_commands_need_a_key(use: object, tmp_path: Path) -> None:
    use(tmp_path / "data")  # type: ignore[operator]
    server = ["--server", "http://127.0.0.1:9"]
    backup = runner.invoke(app, ["backup", "--out", str(tmp_path / "b.tar"), *server])
    assert "API key is needed" in _one_line_error(backup, 2)
    archive = tmp_path / "t.tar"
    archive.write_bytes(b"x")
    imported = runner.invoke(app, ["tenants", "import", str(archive), *server])
    assert "API key is needed" in _one_line_error(imported, 2)


def test_a_held_data_dir_during_restore_says_to_stop_the_server(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def held() -> None:
        raise StartupError("the vector data under /srv/v is in use by another ragplatform process")

    with pytest.raises(typer.Exit):
        _run(held, offline_hint="stop the server first: restore works offline")
    assert capsys.readouterr().err == (
        "error: the vector data under /srv/v is in use by another ragplatform process: "
        "stop the server first: restore works offline\n"
    )
