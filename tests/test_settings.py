from __future__ import annotations

from pathlib import Path

import pytest

from ragplatform.settings import (
    DEV_SECRET_KEY,
    Settings,
    SettingsError,
    env_name,
    load_settings,
)
from tests.support import TEST_SECRET


def test_defaults_are_embedded_sqlite_under_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_ENV", "dev")
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///data/ragplatform.db"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.log_format == "console"


def test_environment_nested_delimiter_and_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_ENV", "prod")
    monkeypatch.setenv("RAG_AUTH__SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("RAG_PORT", "9001")
    monkeypatch.setenv("RAG_DATABASE__URL", "postgresql://u:pw@db:5432/rag")
    monkeypatch.setenv("RAG_CORS__ALLOW_ORIGINS", '["https://app.example.com"]')
    monkeypatch.setenv("RAG_LOG__LEVEL", "debug")
    settings = load_settings()
    assert settings.port == 9001
    assert settings.database_url == "postgresql+asyncpg://u:pw@db:5432/rag"
    assert settings.cors.allow_origins == ["https://app.example.com"]
    assert settings.log.level == "DEBUG"
    assert settings.log_format == "json"


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("RAG_ENV=dev\nRAG_PORT=8123\n")
    assert load_settings().port == 8123


def test_bad_values_give_one_line_each_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAG_ENV", "dev")
    monkeypatch.setenv("RAG_PORT", "abc")
    monkeypatch.setenv("RAG_DATABASE__POOL_SIZE", "0")
    with pytest.raises(SettingsError) as info:
        load_settings()
    lines = info.value.lines
    assert len(lines) == 2
    assert lines[0].startswith("RAG_PORT: ") and "'abc'" in lines[0]
    assert lines[1].startswith("RAG_DATABASE__POOL_SIZE: ")
    assert all("\n" not in line for line in lines)


@pytest.mark.parametrize("env", ["prod", "test"])
def test_default_secret_key_refused_outside_dev(env: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env=env)
    assert info.value.lines == [
        "RAG_AUTH__SECRET_KEY: the built-in development key is refused unless RAG_ENV=dev; "
        "set a random value of at least 32 characters"
    ]


def test_short_secret_key_refused_outside_dev() -> None:
    with pytest.raises(SettingsError, match="at least 32 characters"):
        load_settings(env="prod", auth={"secret_key": "short"})


def test_default_secret_allowed_in_dev() -> None:
    settings = load_settings(env="dev")
    assert settings.auth.secret_key.get_secret_value() == DEV_SECRET_KEY


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://h/db", "postgresql+asyncpg://h/db"),
        ("postgresql+asyncpg://h/db", "postgresql+asyncpg://h/db"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("  ", None),
    ],
)
def test_database_url_is_upgraded_to_async_driver(url: str, expected: str | None) -> None:
    settings = load_settings(env="dev", database={"url": url})
    assert settings.database.url == expected


@pytest.mark.parametrize("url", ["mysql://h/db", "not a url"])
def test_unsupported_database_url_is_refused(url: str) -> None:
    with pytest.raises(SettingsError, match="RAG_DATABASE__URL"):
        load_settings(env="dev", database={"url": url})


def test_admin_api_key_must_look_like_a_key() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env="dev", admin_api_key="hunter2")
    assert info.value.lines[0].startswith("RAG_ADMIN_API_KEY: must start with 'rag_'")
    assert "hunter2" not in info.value.lines[0]  # secrets are never echoed
    assert load_settings(env="dev", admin_api_key="").admin_api_key is None


def test_secrets_are_masked_in_repr_and_dump() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        env="dev",
        admin_api_key="rag_" + "k" * 40,
    )
    assert "kkkk" not in repr(settings)
    assert settings.model_dump(mode="json")["admin_api_key"] == "**********"


def test_env_name_skips_list_indexes() -> None:
    assert env_name(("cors", "allow_origins", 0)) == "RAG_CORS__ALLOW_ORIGINS"


def test_explicit_log_format_wins() -> None:
    assert load_settings(env="dev", log={"format": "json"}).log_format == "json"


def test_answer_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_ENV", "dev")
    monkeypatch.setenv("RAG_LLM__PROVIDER", "openai")
    monkeypatch.setenv("RAG_LLM__BASE_URL", "http://vllm:8000/v1")
    monkeypatch.setenv("RAG_LLM__API_KEY", "sk-secret-value")
    monkeypatch.setenv("RAG_ANSWER__MIN_RELEVANCE", "0.4")
    monkeypatch.setenv("RAG_CACHE__TTL_S", "60")
    settings = load_settings()
    assert settings.llm.provider == "openai" and settings.llm.base_url == "http://vllm:8000/v1"
    assert settings.answer.min_relevance == 0.4 and settings.cache.ttl_s == 60
    assert "sk-secret-value" not in repr(settings)


def test_remote_llm_needs_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_ENV", "dev")
    monkeypatch.setenv("RAG_LLM__PROVIDER", "openai")
    monkeypatch.setenv("RAG_LLM__TEMPERATURE", "5")
    with pytest.raises(SettingsError) as info:
        load_settings()
    text = "\n".join(info.value.lines)
    assert "RAG_LLM__TEMPERATURE" in text
    monkeypatch.delenv("RAG_LLM__TEMPERATURE")
    with pytest.raises(SettingsError, match="RAG_LLM__BASE_URL: required"):
        load_settings()
