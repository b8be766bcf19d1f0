"""A real ``ragplatform serve`` process: start, serve, refuse bad config, stop gracefully."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import TEST_SECRET

pytestmark = pytest.mark.e2e


_DATA_DIRS: dict[int, Path] = {}  # server pid -> its data dir, to restart on the same data
SHARED_EXPORTS = Path(tempfile.gettempdir()) / "ragplatform-test-onnx-exports"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(
        RAG_ENV="test",
        RAG_AUTH__SECRET_KEY=TEST_SECRET,
        RAG_DATA_DIR=str(data_dir),
        # the default ONNX runtime exports the model at a first start: once for every server
        # process of the test run, not once per data dir
        RAG_EMBEDDING__EXPORT_DIR=str(SHARED_EXPORTS),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ragplatform", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_until_up(base: str, proc: subprocess.Popen[str], deadline_s: float = 30) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early with {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not come up")


def start_server(
    env: dict[str, str],
    port: int | None = None,
    *,
    stdout: int = subprocess.DEVNULL,
    stderr: int = subprocess.DEVNULL,
    deadline_s: float = 120,
) -> tuple[str, subprocess.Popen[str]]:
    """``ragplatform serve`` on ``port`` (else the env's RAG_PORT) once /healthz answers.

    Returns (base URL, process); stopping it is the caller's. A server that does not come up
    is killed before the error propagates.
    """
    args = [sys.executable, "-m", "ragplatform", "serve"]
    if port is None:
        port = int(env["RAG_PORT"])
    else:
        args += ["--port", str(port)]
    proc = subprocess.Popen(args, env=env, stdout=stdout, stderr=stderr, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, proc, deadline_s)
    except BaseException:
        proc.kill()
        proc.wait(timeout=10)
        raise
    return base, proc


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    env = server_env(tmp_path / "data")
    assert cli("migrate", env=env).returncode == 0
    base, proc = start_server(env, free_port(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _DATA_DIRS[proc.pid] = tmp_path / "data"
    try:
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_serves_and_stops_gracefully(server: tuple[str, subprocess.Popen[str]]) -> None:
    base, proc = server
    assert httpx.get(f"{base}/readyz").json()["checks"]["database"]["status"] == "ok"
    missing = httpx.get(f"{base}/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert {"code", "request_id"} <= missing.json().keys()
    metrics = httpx.get(f"{base}/metrics").text
    assert 'ragplatform_http_requests_total{method="GET",route="/readyz",status="200"}' in metrics

    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    # uvicorn drains, runs the lifespan shutdown, then re-raises SIGTERM as its exit status
    assert proc.returncode in (0, -signal.SIGTERM), stderr
    assert "Application shutdown complete" in stderr
    assert stdout.count("rag_") == 1, "the generated admin key is printed exactly once"
    key = next(w for w in stdout.split() if w.startswith("rag_"))
    assert key not in stderr, "the admin key never reaches the logs"
    assert '"event": "stopped"' in stderr


def test_printed_admin_key_works_against_the_real_server(
    server: tuple[str, subprocess.Popen[str]],
) -> None:
    base, proc = server
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=30)
    key = next(w for w in stdout.split() if w.startswith("rag_"))
    # Restart on the same data dir: the key persists and no second key is printed.
    env = server_env(_DATA_DIRS[proc.pid])
    port = free_port()
    again = subprocess.Popen(
        [sys.executable, "-m", "ragplatform", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base, again)
        created = httpx.post(
            f"{base}/api/v1/tenants",
            json={"slug": "acme", "name": "Acme"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert created.status_code == 201, created.text
        malformed = httpx.post(
            f"{base}/api/v1/tenants",
            content=b'{"slug": ',
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        assert malformed.status_code == 422
        assert malformed.json()["code"] == "malformed_json"
    finally:
        again.send_signal(signal.SIGTERM)
        second_stdout, _ = again.communicate(timeout=30)
    assert "rag_" not in second_stdout


def test_sigterm_drains_an_in_flight_request(tmp_path: Path) -> None:
    admin_key = "rag_drain_test_admin_key_0123456789abcdef"
    env = server_env(tmp_path / "data", RAG_ADMIN_API_KEY=admin_key)
    assert cli("migrate", env=env).returncode == 0
    port = free_port()
    _, proc = start_server(env, port, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        body = b'{"slug": "drained", "name": "Drained"}'
        head = (
            f"POST /api/v1/tenants HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {admin_key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
            conn.sendall(head + body[:10])  # the request is in flight, its body incomplete
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            conn.sendall(body[10:])
            response = b""
            while chunk := conn.recv(65536):
                response += chunk
        assert response.startswith(b"HTTP/1.1 201"), response[:200]
        proc.communicate(timeout=30)
        assert proc.returncode in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_bad_port_fails_with_one_line(tmp_path: Path) -> None:
    result = cli("serve", env=server_env(tmp_path, RAG_PORT="abc"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: RAG_PORT: Input should be a valid integer, unable to parse string as an "
        "integer (got 'abc')"
    ]


def test_unreachable_database_fails_with_one_line(tmp_path: Path) -> None:
    env = server_env(
        tmp_path,
        RAG_DATABASE__URL="postgresql://nobody@127.0.0.1:1/none",
        RAG_DATABASE__CONNECT_TIMEOUT_S="1",
    )
    result = cli("serve", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the metadata database")
