"""Per-tenant quotas on documents and stored bytes (enforced where documents are added)."""

from __future__ import annotations

from dataclasses import dataclass

from ragplatform.errors import QuotaExceeded
from ragplatform.settings import QuotaSettings
from ragplatform.tenancy.models import Tenant

QUOTA_RETRY_AFTER_S = 3600


@dataclass(frozen=True)
class Usage:
    """What a tenant stores now."""

    documents: int
    bytes: int


def limits_for(tenant: Tenant, defaults: QuotaSettings) -> tuple[int | None, int | None]:
    """The tenant's own quotas, else the platform defaults (None = unlimited)."""
    documents = tenant.quota_documents if tenant.quota_documents is not None else defaults.documents
    stored = tenant.quota_bytes if tenant.quota_bytes is not None else defaults.bytes
    return documents, stored


def check_quota(
    tenant: Tenant, defaults: QuotaSettings, *, usage: Usage, add_documents: int, add_bytes: int
) -> None:
    """Raise QuotaExceeded (429) when adding would pass a quota."""
    max_documents, max_bytes = limits_for(tenant, defaults)
    if max_documents is not None and usage.documents + add_documents > max_documents:
        raise QuotaExceeded(
            f"the tenant's document quota ({max_documents}) would be exceeded",
            retry_after=QUOTA_RETRY_AFTER_S,
        )
    if max_bytes is not None and usage.bytes + add_bytes > max_bytes:
        raise QuotaExceeded(
            f"the tenant's storage quota ({max_bytes} bytes) would be exceeded",
            retry_after=QUOTA_RETRY_AFTER_S,
        )
