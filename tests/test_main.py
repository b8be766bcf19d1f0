"""The application factory's startup log names the embedding model and where it runs."""

from __future__ import annotations

from pathlib import Path

from ragplatform.main import _describe_embedding
from tests.support import make_settings


def test_startup_log_names_the_local_runtime(tmp_path: Path) -> None:
    assert _describe_embedding(make_settings(tmp_path), "all-MiniLM-L6-v2") == (
        "all-MiniLM-L6-v2 (onnx)"
    )
    torch = make_settings(tmp_path, embedding={"runtime": "torch"})
    assert _describe_embedding(torch, "all-MiniLM-L6-v2") == "all-MiniLM-L6-v2 (torch)"


def test_startup_log_names_a_remote_provider(tmp_path: Path) -> None:
    remote = make_settings(
        tmp_path, embedding={"provider": "openai", "base_url": "http://tei:8080/v1"}
    )
    assert _describe_embedding(remote, "bge-small") == "bge-small (openai)"
