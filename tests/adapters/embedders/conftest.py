"""Shared fixtures: the real MiniLM model (loaded once) and a real OpenAI-compatible server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from ragplatform.adapters.embedders.sentence_transformers import load_model
from ragplatform.settings import EmbeddingSettings
from tests.adapters.embedders.server import OpenAIServer, ServerState, embeddings_app


@pytest.fixture(scope="session")
def minilm() -> Any:
    """The packaged all-MiniLM-L6-v2 SentenceTransformer, loaded once per test run."""
    return load_model(EmbeddingSettings())


@pytest.fixture(scope="session")
def _openai_server(minilm: Any) -> Iterator[OpenAIServer]:
    state = ServerState()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        embeddings_app(minilm, state),
        log_level="warning",
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
    assert server.started, "the test embedding server did not start"
    yield OpenAIServer(base_url=f"http://127.0.0.1:{port}/v1", state=state)
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def openai_server(_openai_server: OpenAIServer) -> Iterator[OpenAIServer]:
    """The session's server, healthy and with an empty request log."""
    _openai_server.state.reset()
    yield _openai_server
    _openai_server.state.reset()


@pytest.fixture(scope="session")
def onnx_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding the int8 ONNX export of the packaged model (exported once per run)."""
    from ragplatform.adapters.embedders.onnx import load_onnx_model

    data_dir = tmp_path_factory.mktemp("onnx-data")
    load_onnx_model(EmbeddingSettings(runtime="onnx"), data_dir)
    return data_dir
