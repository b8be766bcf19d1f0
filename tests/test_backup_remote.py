"""The client side of the backup endpoints: problems, broken streams, unverifiable archives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import typer
from rich.console import Console

from ragplatform.backup_remote import Remote, local_server_url


class _Broken(httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        yield b"x" * 1000
        raise httpx.ReadError("connection reset by peer")


def _remote(handler: object) -> Remote:
    remote = Remote("http://backup.test", "rag_" + "k" * 40)
    remote.client.http = httpx.Client(
        base_url="http://backup.test",
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
    )
    return remote


def _fails(call: object, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(typer.Exit) as caught:
        call()  # type: ignore[operator]
    assert caught.value.exit_code in (1, 2)
    return capsys.readouterr().err.strip()


def test_download_errors_end_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    console = Console(stderr=True, quiet=True)
    out = tmp_path / "b.tar"

    def problem(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"code": "unavailable", "detail": "try later"})

    with _remote(problem) as remote:
        line = _fails(lambda: remote.download("/x", out, compress=False, console=console), capsys)
    assert line == "error: try later (503 unavailable)"

    def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>bad gateway</html>")

    with _remote(html) as remote:
        line = _fails(lambda: remote.download("/x", out, compress=False, console=console), capsys)
    assert line == "error: <html>bad gateway</html> (502 error)"

    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_Broken())

    with _remote(broken) as remote:
        line = _fails(lambda: remote.download("/x", out, compress=False, console=console), capsys)
    assert line.startswith("error: the server stopped sending the archive after 1000 bytes")

    def junk(request: httpx.Request) -> httpx.Response:
        assert request.url.params["gzip"] == "true"
        return httpx.Response(200, content=b"not an archive")

    with _remote(junk) as remote:
        line = _fails(lambda: remote.download("/x", out, compress=True, console=console), capsys)
    assert line.startswith("error: the received archive does not verify: ")
    assert not out.exists() and not (tmp_path / "b.tar.partial").exists()


def test_upload_errors_end_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = tmp_path / "t.tar"
    archive.write_bytes(b"a" * 3000)
    console = Console(stderr=True, quiet=True)

    def refused(request: httpx.Request) -> httpx.Response:
        assert request.read() == b"a" * 3000
        return httpx.Response(409, json={"code": "slug_taken", "detail": "taken"})

    with _remote(refused) as remote:
        assert _fails(lambda: remote.upload(archive, console=console), capsys) == (
            "error: taken (409 slug_taken)"
        )

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with _remote(unreachable) as remote:
        line = _fails(lambda: remote.upload(archive, console=console), capsys)
    assert line.startswith("error: cannot reach the server at http://backup.test")


def test_the_local_server_address_must_be_valid(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAG_PORT", "4711")
    assert local_server_url() == "http://127.0.0.1:4711"
    monkeypatch.setenv("RAG_PORT", "not-a-port")
    assert _fails(local_server_url, capsys).startswith("error: RAG_PORT:")
