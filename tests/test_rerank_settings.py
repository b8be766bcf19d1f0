"""Re-ranking settings from the environment (``RAG_RERANK__*``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import make_settings


def test_rerank_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RAG_RERANK__PROVIDER", "http")
    monkeypatch.setenv("RAG_RERANK__BASE_URL", "http://tei:8080")
    monkeypatch.setenv("RAG_RERANK__PROTOCOL", "cohere")
    monkeypatch.setenv("RAG_RERANK__API_KEY", "sk-rerank")
    monkeypatch.setenv("RAG_RERANK__DEPTH", "20")
    monkeypatch.setenv("RAG_RERANK__WITH_TITLE", "false")
    rerank = make_settings(tmp_path).rerank
    assert (rerank.provider, rerank.base_url, rerank.protocol) == (
        "http",
        "http://tei:8080",
        "cohere",
    )
    assert rerank.api_key is not None and rerank.api_key.get_secret_value() == "sk-rerank"
    assert "sk-rerank" not in repr(rerank)
    assert (rerank.depth, rerank.with_title, rerank.batch_size) == (20, False, 32)


def test_rerank_is_off_by_default(tmp_path: Path) -> None:
    rerank = make_settings(tmp_path).rerank
    assert rerank.provider == "off" and rerank.depth == 50


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RAG_RERANK__PROVIDER": "local"}, "RAG_RERANK__MODEL_PATH"),
        ({"RAG_RERANK__PROVIDER": "http"}, "RAG_RERANK__BASE_URL"),
        ({"RAG_RERANK__PROVIDER": "cohere"}, "provider"),
        ({"RAG_RERANK__DEPTH": "0"}, "depth"),
    ],
)
def test_invalid_rerank_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        make_settings(tmp_path)
