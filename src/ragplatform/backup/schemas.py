"""API shapes of the backup endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ragplatform.backup.loading import LoadSummary


class TenantImported(BaseModel):
    """What a tenant import loaded."""

    tenant_id: str
    slug: str
    documents: int = Field(description="document rows loaded")
    chunks: int = Field(description="chunks upserted into the vector store, not re-embedded")
    originals: int
    rows: int = Field(description="metadata rows loaded, every table together")
    requeued: int = Field(description="documents queued for re-indexing from their original")
    seconds: float

    @classmethod
    def of(cls, summary: LoadSummary) -> TenantImported:
        """The response for a finished import."""
        return cls(
            tenant_id=summary.tenants[0],
            slug=summary.slug or "",
            documents=summary.documents,
            chunks=summary.chunks,
            originals=summary.originals,
            rows=summary.rows,
            requeued=summary.requeued,
            seconds=round(summary.seconds, 3),
        )
