"""The optional re-ranking stage: candidates re-scored by a cross-encoder, best first."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ragplatform.answer_settings import RerankSettings
from ragplatform.ports import CONTEXT_KEY, Reranker, VectorHit


def passage_text(payload: dict[str, Any], *, with_title: bool) -> str:
    """What the re-ranker reads of a chunk: ``header\\ntext``, else the text.

    The header is the chunk's context header (document title and headings, as it was indexed)
    or, for chunks indexed without one, the document's title.
    """
    text = str(payload.get("text", ""))
    title = payload.get(CONTEXT_KEY) or payload.get("title")
    if not with_title or not isinstance(title, str) or not title.strip():
        return text
    title = title.strip()
    return text if text.startswith(title) else f"{title}\n{text}"


def rerank_fingerprint(settings: RerankSettings, name: str) -> dict[str, Any]:
    """The re-ranking settings that shape results (cache keys include them)."""
    shaping = settings.model_dump(
        mode="json", include={"provider", "model_path", "base_url", "model", "protocol"}
    )
    shaping.update(depth=settings.depth, with_title=settings.with_title, name=name)
    return shaping


@dataclass(frozen=True)
class Reranking:
    """A re-ranker with how deep it reads and whether it sees document titles."""

    reranker: Reranker
    depth: int = 50
    with_title: bool = True

    def candidates(self, top_k: int) -> int:
        """How many current hits to re-score for a request of ``top_k``."""
        return max(top_k, self.depth)

    async def rerank(self, query: str, hits: Sequence[VectorHit]) -> list[VectorHit]:
        """``hits`` ordered by the re-ranker, each with its score (ties keep retrieval order)."""
        if not hits:
            return []
        texts = [passage_text(h.payload, with_title=self.with_title) for h in hits]
        scores = await self.reranker.rerank(query, texts)
        rescored = [dataclasses.replace(h, score=s) for h, s in zip(hits, scores, strict=True)]
        return sorted(rescored, key=lambda hit: -hit.score)
