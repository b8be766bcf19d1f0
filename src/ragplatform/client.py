"""A small synchronous client of the platform's HTTP API, for CLI commands."""

from __future__ import annotations

import json as json_module
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

RETRIES = 5
MAX_RETRY_WAIT_S = 10.0


class ApiError(Exception):
    """The server answered with a problem; ``str()`` is its one-line explanation."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{detail} ({status} {code})")
        self.status, self.code, self.detail = status, code, detail


class ApiClient:
    """Bearer-authenticated calls with problem+json errors turned into :class:`ApiError`."""

    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 60.0) -> None:
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout_s,
        )

    def close(self) -> None:
        """Close connections."""
        self.http.close()

    def _check(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                body = response.json()
                raise ApiError(
                    response.status_code, body.get("code", "error"), body.get("detail", "")
                )
            except ValueError:
                raise ApiError(response.status_code, "error", response.text[:200]) from None
        return response.json() if response.content else None

    def _send(self, send: Callable[[], httpx.Response]) -> Any:
        """``send()`` again while the server answers 429/503, after its Retry-After."""
        for attempt in range(RETRIES + 1):
            response = send()
            if response.status_code not in (429, 503) or attempt == RETRIES:
                break
            delay = response.headers.get("retry-after", "")
            time.sleep(min(float(delay) if delay.isdigit() else 1.0, MAX_RETRY_WAIT_S))
        return self._check(response)

    def get(self, path: str, **params: Any) -> Any:
        """GET a JSON resource."""
        query = {k: v for k, v in params.items() if v is not None}
        return self._send(lambda: self.http.get(path, params=query))

    def post(self, path: str, json: Any = None) -> Any:
        """POST JSON."""
        return self._send(lambda: self.http.post(path, json=json))

    def upload(self, path: str, file: Path) -> Any:
        """POST one file as multipart."""

        def send() -> httpx.Response:
            with file.open("rb") as handle:
                return self.http.post(path, files={"files": (file.name, handle)})

        return self._send(send)

    def collection_id(self, name: str, *, create: bool) -> str:
        """The id of the collection called ``name`` (created when missing and ``create``)."""
        cursor = None
        while True:
            page = self.get("/api/v1/collections", cursor=cursor, limit=200)
            for item in page["items"]:
                if item["name"] == name:
                    return str(item["id"])
            cursor = page["next_cursor"]
            if not cursor:
                break
        if not create:
            raise ApiError(404, "not_found", f"no collection named {name!r}")
        return str(self.post("/api/v1/collections", json={"name": name})["id"])

    def stream(self, path: str, json: Any = None) -> Iterator[tuple[str, Any]]:
        """POST JSON and yield the ``(event, data)`` pairs of a Server-Sent Events answer."""
        with self.http.stream("POST", path, json=json) as response:
            if response.status_code >= 400:
                response.read()
                self._check(response)
            event, data = "message", []
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    yield event, json_module.loads("\n".join(data))
                    event, data = "message", []
