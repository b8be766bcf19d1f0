"""The backup commands' side of the platform-admin endpoints: download and upload archives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from pydantic import ValidationError
from rich.console import Console

from ragplatform.backup.manifest import ArchiveError, Manifest
from ragplatform.backup.verify import read_archive
from ragplatform.backup_progress import byte_bar
from ragplatform.cli_support import fail
from ragplatform.client import ApiClient, ApiError
from ragplatform.settings import ServerAddress, describe_validation_error

IMPORT_PATH = "/api/v1/admin/tenants/import"
# Archives stream for as long as they take; only connecting and sending are bounded.
STREAM_TIMEOUT = httpx.Timeout(60.0, read=None)
_BLOCK = 1 << 20


def local_server_url() -> str:
    """Where the server on this machine listens (RAG_HOST / RAG_PORT)."""
    try:
        return ServerAddress().url
    except ValidationError as exc:
        fail("; ".join(describe_validation_error(exc)), code=2)


def _problem(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
        return ApiError(response.status_code, body.get("code", "error"), body.get("detail", ""))
    except ValueError:
        return ApiError(response.status_code, "error", response.text[:200])


class Remote:
    """A platform admin's connection to a server; failures end the command with one line."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url
        self.client = ApiClient(base_url, api_key)

    def __enter__(self) -> Remote:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.client.close()

    def _receive(self, path: str, partial: Path, *, compress: bool, console: Console) -> None:
        received = 0
        params = {"gzip": "true" if compress else "false"}
        try:
            with self.client.http.stream("GET", path, params=params, timeout=STREAM_TIMEOUT) as r:
                if r.status_code >= 400:
                    r.read()
                    raise _problem(r)
                with partial.open("wb") as handle, byte_bar(console) as bar:
                    task = bar.add_task("receiving archive", total=None)
                    for block in r.iter_bytes():
                        handle.write(block)
                        received += len(block)
                        bar.advance(task, len(block))
        except ApiError as exc:
            fail(str(exc))
        except httpx.TransportError as exc:
            if received:
                fail(f"the server stopped sending the archive after {received} bytes: {exc}")
            fail(f"cannot reach the server at {self.base_url}: {exc}")

    def download(self, path: str, out: Path, *, compress: bool, console: Console) -> Manifest:
        """Receive the archive at ``path`` into ``out``, verified before it gets its name."""
        partial = out.with_name(out.name + ".partial")
        try:
            self._receive(path, partial, compress=compress, console=console)
            with console.status("verifying archive"):
                manifest = read_archive(partial).manifest
        except ArchiveError as exc:
            partial.unlink(missing_ok=True)
            fail(f"the received archive does not verify: {exc.detail}")
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.rename(out)
        return manifest

    def upload(self, archive: Path, *, console: Console) -> dict[str, Any]:
        """Send a tenant archive to the import endpoint; the server's answer."""
        with byte_bar(console) as bar:
            task = bar.add_task("sending archive", total=archive.stat().st_size)

            def body() -> Iterator[bytes]:
                with archive.open("rb") as handle:
                    while block := handle.read(_BLOCK):
                        yield block
                        bar.advance(task, len(block))

            try:
                response = self.client.http.post(
                    IMPORT_PATH,
                    content=body(),
                    headers={"Content-Type": "application/x-tar"},
                    timeout=STREAM_TIMEOUT,
                )
            except httpx.TransportError as exc:
                fail(f"cannot reach the server at {self.base_url}: {exc}")
        if response.status_code >= 400:
            fail(str(_problem(response)))
        result: dict[str, Any] = response.json()
        return result
