"""``ragplatform ingest`` against a real server: walks folders, uploads, waits, summarises."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.documents_support import pdf_bytes
from tests.e2e.test_server import cli, free_port, server_env, start_server

pytestmark = pytest.mark.e2e
ADMIN = "rag_ingest_cli_admin_key_0123456789abcdef"


def test_ingest_walks_uploads_and_reports(tmp_path: Path) -> None:
    env = server_env(tmp_path / "data", RAG_ADMIN_API_KEY=ADMIN)
    assert cli("migrate", env=env).returncode == 0
    base, proc = start_server(env, free_port())
    try:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        tenant = httpx.post(
            f"{base}/api/v1/tenants", json={"slug": "acme", "name": "A"}, headers=admin
        )
        key = httpx.post(
            f"{base}/api/v1/api-keys",
            json={"name": "e", "role": "editor", "tenant_id": tenant.json()["id"]},
            headers=admin,
        ).json()["key"]
        folder = tmp_path / "docs"
        (folder / "sub").mkdir(parents=True)
        (folder / "a.md").write_text("# Title\n\nSome markdown text about otters.")
        (folder / "sub" / "b.txt").write_text("Plain text about beavers.")
        (folder / "sub" / "c.pdf").write_bytes(pdf_bytes(["A PDF page about badgers."]))
        (folder / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
        (folder / ".hidden.txt").write_text("never uploaded")
        (tmp_path / "copy.txt").write_text("Plain text about beavers.")
        client_env = env | {"RAG_API_KEY": key}
        run = [
            sys.executable,
            "-m",
            "ragplatform",
            "ingest",
            "--collection",
            "wiki",
            "--server",
            base,
        ]
        first = subprocess.run(
            [*run, str(folder), str(tmp_path / "copy.txt")],
            env=client_env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert first.returncode == 1, first.stderr  # one file failed
        assert "ingested: 3  duplicates: 1  failed: 1" in first.stdout
        assert "broken.pdf" in first.stdout and "PDF" in first.stdout
        again = subprocess.run(
            [*run, str(folder / "a.md")],
            env=client_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert again.returncode == 0 and "duplicates: 1" in again.stdout
        found = subprocess.run(
            [
                sys.executable,
                "-m",
                "ragplatform",
                "search",
                "otters",
                "--collection",
                "wiki",
                "--server",
                base,
            ],
            env=client_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert found.returncode == 0, found.stderr
        assert found.stdout.startswith(" 1. [") and "otters" in found.stdout

        def query(*args: str) -> subprocess.CompletedProcess[str]:
            command = [sys.executable, "-m", "ragplatform", *args, "--server", base]
            return subprocess.run(
                command, env=client_env, capture_output=True, text=True, timeout=120, check=False
            )

        answer = query("ask", "Which animal is the markdown text about?", "--collection", "wiki")
        assert answer.returncode == 0, answer.stderr
        assert "otters" in answer.stdout and "[1]" in answer.stdout
        assert "Sources:" in answer.stdout and "a.md" in answer.stdout
        unknown = query("ask", "otters?", "--collection", "nope")
        assert unknown.returncode == 1 and "no collection named 'nope'" in unknown.stderr
        bad_json = query("search", "otters", "--filter", "{nope")
        assert bad_json.returncode == 2 and "--filter is not valid JSON" in bad_json.stderr
        bad_filter = query("search", "otters", "--filter", '{"field": "year"}')
        assert bad_filter.returncode == 1 and "422" in bad_filter.stderr
        narrowed = query(
            "search", "animals", "--filter", '{"field": "lang", "eq": "xx"}', "--top-k", "3"
        )
        assert narrowed.returncode == 0 and narrowed.stdout == "no results\n"
        no_key = subprocess.run(
            [*run, str(folder)], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert no_key.returncode == 2 and "API key" in no_key.stderr
        missing = subprocess.run(
            [*run, str(tmp_path / "nope")],
            env=client_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert missing.returncode == 2 and "no such file" in missing.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    unreachable = subprocess.run(
        [*run, str(folder / "a.md")],
        env=client_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unreachable.returncode == 1 and "cannot reach the server" in unreachable.stderr
