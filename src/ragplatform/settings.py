"""One settings tree for the whole platform (env prefix ``RAG_``, nested with ``__``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from ragplatform.answer_settings import AnswerSettings, CacheSettings, LlmSettings, RerankSettings

ENV_PREFIX = "RAG_"
NESTED_DELIMITER = "__"
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me-0000000000"  # noqa: S105 - the refused default
MIN_SECRET_KEY_LENGTH = 32

Environment = Literal["dev", "test", "prod"]


class DatabaseSettings(BaseModel):
    """Metadata database (SQLite by default, PostgreSQL in production)."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; unset = SQLite file under RAG_DATA_DIR. "
        "postgresql:// and sqlite:// are upgraded to their async drivers.",
    )
    pool_size: Annotated[int, Field(ge=1, le=500)] = 10
    max_overflow: Annotated[int, Field(ge=0, le=500)] = 10
    connect_timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    busy_timeout_ms: Annotated[int, Field(ge=0, le=600_000)] = 30_000
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _normalise_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        scheme, sep, rest = value.partition("://")
        if not sep:
            raise ValueError("must be a URL such as postgresql://user@host/db or sqlite:///path")
        aliases = {
            "postgres": "postgresql+asyncpg",
            "postgresql": "postgresql+asyncpg",
            "postgresql+asyncpg": "postgresql+asyncpg",
            "sqlite": "sqlite+aiosqlite",
            "sqlite+aiosqlite": "sqlite+aiosqlite",
        }
        if scheme not in aliases:
            raise ValueError(
                f"unsupported database scheme {scheme!r}: use postgresql:// or sqlite://"
            )
        return f"{aliases[scheme]}://{rest}"


class AuthSettings(BaseModel):
    """Signing and lifetime of credentials."""

    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    access_token_ttl_s: Annotated[int, Field(ge=60, le=86_400)] = 900
    refresh_token_ttl_s: Annotated[int, Field(ge=300, le=90 * 86_400)] = 14 * 86_400
    issuer: str = "ragplatform"
    audience: str = "ragplatform"


class LimitsSettings(BaseModel):
    """Request size limits."""

    max_request_bytes: Annotated[int, Field(ge=1_024, le=1 << 30)] = 1 << 20


def _rate(value: str) -> str:
    from limits import parse

    try:
        parse(value)
    except ValueError:
        raise ValueError("must be a rate such as '600/minute' or '5 per 15 minutes'") from None
    return value


RateString = Annotated[str, AfterValidator(_rate)]


class RateLimitSettings(BaseModel):
    """Request rates (moving window); shared through Redis when RAG_REDIS__URL is set."""

    enabled: bool = True
    per_key: RateString = "600/minute"
    per_tenant: RateString = "3000/minute"
    login_per_account: RateString = Field(
        default="5 per 15 minutes", description="failed logins before an account is locked"
    )
    login_per_client: RateString = Field(
        default="30 per 15 minutes", description="failed logins before a client IP is locked"
    )


class QuotaSettings(BaseModel):
    """Default per-tenant quotas (unset = unlimited); a tenant's own quota overrides them."""

    documents: Annotated[int, Field(ge=0)] | None = None
    bytes: Annotated[int, Field(ge=0)] | None = None


class EmbeddingSettings(BaseModel):
    """The embedding model: local sentence-transformers, or an OpenAI-compatible endpoint."""

    provider: Literal["local", "openai"] = "local"
    runtime: Literal["torch", "onnx"] = Field(
        default="onnx",
        description="local: ONNX Runtime int8 (exported from the model at first start, cached; "
        "measured 2x faster, same nDCG) or PyTorch float32",
    )
    model: str = Field(
        default="all-MiniLM-L6-v2",
        description="Model name (sent to the endpoint; recorded on collections)",
    )
    model_path: Path | None = Field(
        default=None, description="Local model directory; unset = the packaged all-MiniLM-L6-v2"
    )
    export_dir: Path | None = Field(
        default=None, description="onnx: where the int8 export is cached; unset = <data dir>/models"
    )
    batch_size: Annotated[int, Field(ge=1, le=1024)] = 64
    micro_batch_size: Annotated[int, Field(ge=1, le=1024)] | None = Field(
        default=None,
        description="local: texts per forward pass, longest first; unset = each runtime's "
        "fastest on a CPU (torch 8, onnx 1)",
    )
    max_concurrency: Annotated[int, Field(ge=1, le=64)] = 1
    cache_size: Annotated[int, Field(ge=0, le=10_000_000)] = 10_000
    base_url: str | None = Field(default=None, description="e.g. http://tei:8080/v1")
    api_key: SecretStr | None = None
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    max_retries: Annotated[int, Field(ge=0, le=10)] = 3
    dimension: Annotated[int, Field(ge=1, le=65_536)] | None = Field(
        default=None, description="openai: the vector size (probed at start when unset)"
    )

    @model_validator(mode="after")
    def _remote_needs_url(self) -> EmbeddingSettings:
        if self.provider == "openai" and not self.base_url:
            raise ValueError(
                "RAG_EMBEDDING__BASE_URL: required when RAG_EMBEDDING__PROVIDER=openai"
            )
        return self


class VectorSettings(BaseModel):
    """The vector store: embedded Qdrant Edge by default, a Qdrant server or Milvus."""

    backend: Literal["qdrant", "milvus"] = "qdrant"
    qdrant_url: str | None = Field(default=None, description="unset = embedded Qdrant Edge")
    qdrant_api_key: SecretStr | None = None
    milvus_uri: str | None = Field(
        default=None,
        description="milvus: a server URL (http://host:19530); unset = a Milvus Lite file",
    )
    milvus_token: SecretStr | None = Field(
        default=None, description="milvus: 'user:password' or an API key for a server"
    )
    fusion: Literal["rrf", "dbsf"] = Field(
        default="dbsf",
        description="Hybrid fusion: distribution-based score (measured better) or reciprocal rank",
    )
    collection_prefix: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")] = "ragplatform"
    indexing_threshold_kb: Annotated[int, Field(ge=1, le=10_000_000)] = Field(
        default=20_000,
        description="Qdrant Edge: vector data per segment before HNSW is built",
    )
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 10.0


class IngestionSettings(BaseModel):
    """Uploads, chunking and the ingestion workers."""

    max_file_bytes: Annotated[int, Field(ge=1, le=1 << 34)] = 50 * (1 << 20)
    max_files_per_request: Annotated[int, Field(ge=1, le=1000)] = 20
    chunk_size_tokens: Annotated[int, Field(ge=16, le=8192)] = 200
    chunk_overlap_tokens: Annotated[int, Field(ge=0, le=4096)] = 40
    workers: Annotated[int, Field(ge=1, le=256)] = 16
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 5

    @model_validator(mode="after")
    def _overlap_below_size(self) -> IngestionSettings:
        if self.chunk_overlap_tokens >= self.chunk_size_tokens:
            raise ValueError(
                "RAG_INGESTION__CHUNK_OVERLAP_TOKENS: must be smaller than CHUNK_SIZE_TOKENS"
            )
        return self


class RedisSettings(BaseModel):
    """Redis for shared rate limits and caches; unset = in-process."""

    url: str | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value.strip()


class CorsSettings(BaseModel):
    """Cross-origin resource sharing; no origin is allowed unless listed."""

    allow_origins: list[str] = Field(default_factory=list)
    allow_credentials: bool = False
    max_age_s: Annotated[int, Field(ge=0, le=86_400)] = 600


class LogSettings(BaseModel):
    """Structured logging."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "console", "json"] = Field(
        default="auto", description="auto = console in dev, JSON otherwise"
    )

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class Settings(BaseSettings):
    """Every option of the platform; see README 'Configuration'."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED_DELIMITER,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    env: Environment = "prod"
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65_535)] = 8000
    data_dir: Path = Path("./data")
    admin_api_key: SecretStr | None = None
    shutdown_timeout_s: Annotated[float, Field(ge=0, le=600)] = 30.0
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    quotas: QuotaSettings = Field(default_factory=QuotaSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    vector: VectorSettings = Field(default_factory=VectorSettings)
    ingestion: IngestionSettings = Field(default_factory=IngestionSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    rerank: RerankSettings = Field(default_factory=RerankSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    cors: CorsSettings = Field(default_factory=CorsSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    @field_validator("admin_api_key")
    @classmethod
    def _check_admin_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        raw = value.get_secret_value()
        if not raw.startswith("rag_") or len(raw) < 32:
            raise ValueError("must start with 'rag_' and be at least 32 characters long")
        return value

    @model_validator(mode="after")
    def _check_secret_key(self) -> Settings:
        secret = self.auth.secret_key.get_secret_value()
        if self.env != "dev":
            if secret == DEV_SECRET_KEY:
                raise ValueError(
                    "RAG_AUTH__SECRET_KEY: the built-in development key is refused unless "
                    "RAG_ENV=dev; set a random value of at least 32 characters"
                )
            if len(secret) < MIN_SECRET_KEY_LENGTH:
                raise ValueError(
                    f"RAG_AUTH__SECRET_KEY: must be at least {MIN_SECRET_KEY_LENGTH} characters"
                )
        return self

    @property
    def database_url(self) -> str:
        """The effective async SQLAlchemy URL."""
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'ragplatform.db').as_posix()}"

    @property
    def log_format(self) -> Literal["console", "json"]:
        """The effective log renderer."""
        if self.log.format == "auto":
            return "console" if self.env == "dev" else "json"
        return self.log.format


class SettingsError(Exception):
    """Settings failed validation; ``lines`` holds one readable line per bad value."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines


_SENSITIVE = ("secret", "key", "password", "token", "url")


def env_name(loc: tuple[int | str, ...]) -> str:
    """The environment variable that sets the option at ``loc``."""
    parts = [str(p) for p in loc if not isinstance(p, int)]
    return ENV_PREFIX + NESTED_DELIMITER.join(p.upper() for p in parts)


def describe_validation_error(exc: ValidationError) -> list[str]:
    """One line per error, naming the environment variable and the offending value."""
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        msg = str(err["msg"]).removeprefix("Value error, ")
        if not err["loc"]:
            lines.append(msg)
            continue
        value = err.get("input")
        sensitive = any(word in str(err["loc"]).lower() for word in _SENSITIVE)
        shown = (
            f" (got {value!r})" if isinstance(value, str | int | float) and not sensitive else ""
        )
        lines.append(f"{env_name(tuple(err['loc']))}: {msg}{shown}")
    return lines


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings, raising :class:`SettingsError` on bad values."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None


class ServerAddress(BaseSettings):
    """Only where the local server listens (``RAG_HOST``/``RAG_PORT``), for client commands."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65_535)] = 8000

    @property
    def url(self) -> str:
        """The base URL a client on this machine uses."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"
