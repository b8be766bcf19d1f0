"""Real OpenAI-compatible chat servers on 127.0.0.1 for the chat adapter tests.

``chat_app`` answers ``POST /v1/chat/completions`` either with scripted replies (statuses,
``Retry-After``, slow or cut streams: behaviour no real upstream shows on demand) or, when
none is queued and a model is attached, by relaying the chunks of the real
``Llama.create_chat_completion(stream=True)`` as server-sent events.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Reply:
    """One scripted answer to one request."""

    status: int = 200
    chunks: Sequence[str] = ("Hello", " world", "!")
    usage: dict[str, int] | None = field(
        default_factory=lambda: {"prompt_tokens": 11, "completion_tokens": 3}
    )
    message: str = "overloaded"
    retry_after: str | None = None
    delay_s: float = 0.0  # before the response starts
    chunk_delay_s: float = 0.0  # before each chunk after the first
    cut_after: int | None = None  # drop the connection after this many chunks
    done: bool = True  # send ``data: [DONE]``
    raw_events: Sequence[str] | None = None  # ``data:`` payloads sent verbatim instead
    json_body: Any = None  # a non-streamed JSON body (a server ignoring ``stream: true``)


@dataclass
class ServerState:
    """The script of the server, what it received and what its model generated."""

    replies: deque[Reply] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    models_status: int = 200
    generated: int = 0  # chunks the real model produced
    generating: bool = False
    suppress_eos: bool = False  # the real model never ends on its own (runs to max_tokens)

    def reset(self) -> None:
        """No script, no recorded requests, a healthy ``/models``."""
        self.replies.clear()
        self.requests.clear()
        self.models_status = 200
        self.generated = 0
        self.generating = False
        self.suppress_eos = False


def _event(payload: Any) -> bytes:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n".encode()


def _chunk(content: str | None, finish: str | None = None) -> dict[str, Any]:
    delta = {"content": content} if content is not None else {}
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "model": "scripted",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


class _CutStream(Exception):
    """Raised inside a response body: uvicorn drops the connection mid-stream."""


async def _scripted(reply: Reply, include_usage: bool) -> AsyncIterator[bytes]:
    if reply.raw_events is not None:
        for raw in reply.raw_events:
            yield _event(raw)
        return
    yield _event({**_chunk(None), "choices": [{"index": 0, "delta": {"role": "assistant"}}]})
    for i, text in enumerate(reply.chunks):
        if reply.cut_after is not None and i >= reply.cut_after:
            raise _CutStream
        if reply.chunk_delay_s and i:
            await asyncio.sleep(reply.chunk_delay_s)
        yield _event(_chunk(text))
    if reply.cut_after is not None:
        raise _CutStream
    yield _event(_chunk(None, "stop"))
    if include_usage and reply.usage is not None:
        yield _event({"id": "chatcmpl-test", "choices": [], "usage": reply.usage})
    if reply.done:
        yield _event("[DONE]")


async def _relay(
    llama: Any, lock: threading.Lock, body: dict[str, Any], state: ServerState
) -> AsyncIterator[bytes]:
    """Run the real model on a thread and relay each chunk it yields, stopping on disconnect.

    ``lock`` is taken on the model thread: a cancelled request cannot release it while its
    generation is still running (the Llama object is not thread-safe).
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    stop = threading.Event()
    end = object()

    def generate() -> None:
        with lock:
            run()

    def run() -> None:
        state.generating = True
        try:
            bias = {llama.token_eos(): -100.0} if state.suppress_eos else None
            chunks = llama.create_chat_completion(
                messages=body["messages"],
                stream=True,
                max_tokens=body.get("max_tokens"),
                temperature=body.get("temperature", 0.2),
                logit_bias=bias,
            )
            try:
                for chunk in chunks:
                    if stop.is_set():
                        break
                    state.generated += 1
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
            finally:
                chunks.close()
        finally:
            state.generating = False
            if not loop.is_closed():
                loop.call_soon_threadsafe(queue.put_nowait, end)

    worker = asyncio.create_task(asyncio.to_thread(generate))
    texts: list[str] = []
    try:
        while (chunk := await queue.get()) is not end:
            texts.append(chunk["choices"][0]["delta"].get("content") or "")
            yield _event(chunk)
        if body.get("stream_options", {}).get("include_usage"):
            prompt = "".join(m["content"] for m in body["messages"]).encode()
            usage = {
                "prompt_tokens": len(llama.tokenize(prompt)),
                "completion_tokens": sum(1 for t in texts if t),
            }
            yield _event({"id": "chatcmpl-relay", "choices": [], "usage": usage})
        yield _event("[DONE]")
    finally:
        stop.set()  # the client went away (Starlette cancels the body) or the stream ended
        await worker


def chat_app(state: ServerState, llama: Any = None) -> Starlette:
    """``POST /v1/chat/completions`` and ``GET /v1/models``, scripted or on a real model."""
    lock = threading.Lock()  # the Llama object serves one generation at a time

    async def completions(request: Request) -> Response:
        body = await request.json()
        state.requests.append({"headers": dict(request.headers), "body": body})
        include_usage = bool(body.get("stream_options", {}).get("include_usage"))
        if not state.replies:
            if llama is None:
                return StreamingResponse(
                    _scripted(Reply(), include_usage), media_type="text/event-stream"
                )
            relayed = _relay(llama, lock, body, state)
            return StreamingResponse(relayed, media_type="text/event-stream")
        reply = state.replies.popleft()
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.status != 200:
            headers = {"Retry-After": reply.retry_after} if reply.retry_after else {}
            error = {"error": {"message": reply.message, "type": "test"}}
            return JSONResponse(error, status_code=reply.status, headers=headers)
        if reply.json_body is not None:
            return JSONResponse(reply.json_body)
        return StreamingResponse(_scripted(reply, include_usage), media_type="text/event-stream")

    async def models(request: Request) -> Response:
        state.requests.append({"headers": dict(request.headers), "body": None})
        if state.models_status != 200:
            return JSONResponse({"error": "nope"}, status_code=state.models_status)
        return JSONResponse({"object": "list", "data": [{"id": "test-model", "object": "model"}]})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
        ]
    )


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run ``app`` under uvicorn on a thread; yields its ``/v1`` base URL."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level=os.environ.get("CHAT_SERVER_LOG", "critical"),
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        threading.Event().wait(0.01)
    assert server.started, "the test chat server did not start"
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def closed_port() -> int:
    """A local port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
