"""Prometheus metrics, one registry per app so several apps can live in one process."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """The platform's collectors."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.http_requests = Counter(
            "ragplatform_http_requests",
            "HTTP requests by method, route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "ragplatform_http_request_duration_seconds",
            "HTTP request latency by method, route template and status.",
            ("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.http_unhandled = Counter(
            "ragplatform_http_unhandled_exceptions",
            "Requests that ended in an unexpected exception (HTTP 500).",
            ("route",),
            registry=self.registry,
        )
        self.stage_latency = Histogram(
            "ragplatform_stage_duration_seconds",
            "Latency of pipeline stages (parse, chunk, embed, upsert, search, generate).",
            ("stage",),
            buckets=(*LATENCY_BUCKETS, 60, 120, 300),
            registry=self.registry,
        )
        self.ingested_documents = Counter(
            "ragplatform_ingested_documents",
            "Documents whose ingestion finished, by outcome (ready, failed).",
            ("outcome",),
            registry=self.registry,
        )
        self.ingested_chunks = Counter(
            "ragplatform_ingested_chunks",
            "Chunks written to the vector store.",
            registry=self.registry,
        )

        self.cache_lookups = Counter(
            "ragplatform_cache_lookups",
            "Cache lookups by cache (search, ask, query_embedding) and outcome (hit, miss).",
            ("cache", "outcome"),
            registry=self.registry,
        )
        self.generated_tokens = Counter(
            "ragplatform_generated_tokens",
            "Tokens read (prompt) and written (completion) by the answer model.",
            ("kind",),
            registry=self.registry,
        )

    def count_cache(self, cache: str, *, hit: bool) -> None:
        """Count one cache lookup."""
        self.cache_lookups.labels(cache, "hit" if hit else "miss").inc()

    def count_tokens(self, *, prompt: int, completion: int) -> None:
        """Count the tokens of one answer."""
        self.generated_tokens.labels("prompt").inc(prompt)
        self.generated_tokens.labels("completion").inc(completion)

    def observe_stage(self, stage: str, seconds: float) -> None:
        """Time one pipeline stage (parse, chunk, embed, upsert, search, generate)."""
        self.stage_latency.labels(stage).observe(seconds)

    def count_document(self, outcome: str, chunks: int = 0) -> None:
        """Count an ingested (or failed) document and its chunks."""
        self.ingested_documents.labels(outcome).inc()
        if chunks:
            self.ingested_chunks.inc(chunks)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        labels = (method, route, str(status))
        self.http_requests.labels(*labels).inc()
        self.http_latency.labels(*labels).observe(seconds)

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)
