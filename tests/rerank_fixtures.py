"""Fixtures (a plugin of tests/conftest.py): a real cross-encoder and a real ``/rerank`` server.

No cross-encoder ships with the platform, so one is built from the packaged MiniLM weights: the
BERT encoder as trained, under a one-label classification head initialised from a fixed seed.
Its scores are a real model's forward pass (deterministic, not trained for relevance: they say
nothing about quality).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ragplatform.adapters.embedders.sentence_transformers import packaged_model_path
from ragplatform.adapters.rerankers.cross_encoder import load_cross_encoder
from ragplatform.answer_settings import RerankSettings
from ragplatform.errors import StartupError
from tests.adapters.llms.server import serve
from tests.adapters.rerankers.server import RerankState, rerank_app

HEAD_SEED = 1234


def build_cross_encoder(target: Path) -> Path:
    """Save a one-score ``BertForSequenceClassification`` made from the packaged MiniLM."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = str(packaged_model_path())
    torch.manual_seed(HEAD_SEED)
    model = AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=1, local_files_only=True
    )
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


@pytest.fixture(scope="session")
def cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cross-encoder directory built once per test run (skips if MiniLM is not installed)."""
    try:
        return build_cross_encoder(tmp_path_factory.mktemp("cross-encoder"))
    except StartupError as exc:
        pytest.skip(f"cannot build the test cross-encoder: {exc}")


@pytest.fixture(scope="session")
def cross_encoder(cross_encoder_dir: Path) -> Any:
    """That cross-encoder loaded as a sentence-transformers ``CrossEncoder``."""
    return load_cross_encoder(RerankSettings(provider="local", model_path=cross_encoder_dir))


@dataclass
class RerankServer:
    """A running server: TEI at ``base_url``, the ``results`` shape at ``base_url + '/v1'``."""

    base_url: str
    state: RerankState


@pytest.fixture(scope="session")
def _rerank_server(cross_encoder: Any) -> Iterator[RerankServer]:
    state = RerankState()
    with serve(rerank_app(cross_encoder, state)) as v1_url:
        yield RerankServer(base_url=v1_url.removesuffix("/v1"), state=state)


@pytest.fixture
def rerank_server(_rerank_server: RerankServer) -> Iterator[RerankServer]:
    """The session's server, healthy and with an empty request log."""
    _rerank_server.state.reset()
    yield _rerank_server
    _rerank_server.state.reset()
