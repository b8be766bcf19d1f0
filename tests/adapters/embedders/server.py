"""A real OpenAI-compatible ``/v1/embeddings`` server for tests, with switchable failures."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route


@dataclass
class ServerState:
    """Switchable behaviour of the test server, and what it received."""

    fail_times: int = 0
    fail_status: int = 503
    fail_message: str = "overloaded"
    retry_after: str | None = None
    delay_s: float = 0.0
    garbage: bool = False
    normalize: bool = True
    override: Any = None
    requests: list[dict[str, Any]] = field(default_factory=list)

    def reset(self) -> None:
        """Back to a healthy server with no recorded requests."""
        fresh = ServerState()
        for name in ("fail_times", "fail_status", "fail_message", "retry_after", "delay_s"):
            setattr(self, name, getattr(fresh, name))
        self.garbage = False
        self.normalize = True
        self.override = None
        self.requests.clear()

    @property
    def inputs(self) -> list[list[str]]:
        """The ``input`` list of each request received."""
        return [request["body"]["input"] for request in self.requests]


@dataclass
class OpenAIServer:
    """A running server: its ``/v1`` base URL and its state."""

    base_url: str
    state: ServerState


def embeddings_app(model: Any, state: ServerState) -> Starlette:
    """``POST /v1/embeddings`` on ``model``, misbehaving as ``state`` says."""

    async def embeddings(request: Request) -> Response:
        body = await request.json()
        state.requests.append({"headers": dict(request.headers), "body": body})
        if state.delay_s:
            await asyncio.sleep(state.delay_s)
        if state.fail_times > 0:
            state.fail_times -= 1
            headers = {"Retry-After": state.retry_after} if state.retry_after else {}
            return JSONResponse(
                {"error": {"message": state.fail_message, "type": "test"}},
                status_code=state.fail_status,
                headers=headers,
            )
        if isinstance(state.override, str):
            return Response(state.override, media_type="application/json")
        if state.override is not None:
            return JSONResponse(state.override)
        if state.garbage:
            return PlainTextResponse("<html>proxy error page</html>")
        inputs = body["input"]
        matrix = await asyncio.to_thread(
            model.encode, inputs, normalize_embeddings=state.normalize, convert_to_numpy=True
        )
        scale = 1.0 if state.normalize else 3.0
        data = [
            {"object": "embedding", "index": i, "embedding": (row * scale).tolist()}
            for i, row in enumerate(matrix)
        ]
        data.reverse()  # clients must order by ``index``, not by position
        return JSONResponse(
            {"object": "list", "data": data, "model": body["model"], "usage": {"total_tokens": 1}}
        )

    return Starlette(routes=[Route("/v1/embeddings", embeddings, methods=["POST"])])


def closed_port() -> int:
    """A local port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
