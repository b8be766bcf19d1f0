"""First-start bootstrap of the platform admin credential."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ragplatform.db.base import utcnow
from ragplatform.tenancy import audit
from ragplatform.tenancy.keys import generate_key, material_for
from ragplatform.tenancy.models import ApiKey
from ragplatform.tenancy.roles import Role

ENV_SOURCE = "env"
BOOTSTRAP_SOURCE = "bootstrap"


async def ensure_platform_admin_key(session: AsyncSession, *, env_key: str | None) -> str | None:
    """Make sure a platform admin key exists; return a newly generated plaintext key, if any.

    With ``RAG_ADMIN_API_KEY`` set, that key is registered (and an earlier env key it
    replaces is revoked); otherwise a key is generated only when no active platform
    admin key exists at all.
    """
    if env_key:
        material = material_for(env_key)
        existing = await session.scalar(select(ApiKey).where(ApiKey.key_hash == material.key_hash))
        await session.execute(
            update(ApiKey)
            .where(
                ApiKey.source == ENV_SOURCE,
                ApiKey.key_hash != material.key_hash,
                ApiKey.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
        )
        if existing is None:
            session.add(_platform_key("RAG_ADMIN_API_KEY", material.prefix, material.key_hash))
        await session.commit()
        return None
    active = await session.scalar(
        select(ApiKey.id)
        .where(
            ApiKey.tenant_id.is_(None),
            ApiKey.role == Role.PLATFORM_ADMIN,
            ApiKey.revoked_at.is_(None),
        )
        .limit(1)
    )
    if active is not None:
        return None
    fresh = generate_key()
    session.add(_platform_key("bootstrap admin", fresh.prefix, fresh.key_hash, BOOTSTRAP_SOURCE))
    await session.commit()
    return fresh.plaintext


async def create_platform_admin_key(session: AsyncSession, *, name: str) -> str:
    """A new platform admin key (for ``ragplatform admin create-key``); returns the plaintext."""
    fresh = generate_key()
    session.add(_platform_key(name[:200], fresh.prefix, fresh.key_hash, "cli"))
    audit.record(
        session,
        action="api_key.created",
        actor="cli",
        tenant_id=None,
        target_type="api_key",
        detail={"name": name[:200], "role": Role.PLATFORM_ADMIN.value, "prefix": fresh.prefix},
    )
    await session.commit()
    return fresh.plaintext


def _platform_key(name: str, prefix: str, key_hash: str, source: str = ENV_SOURCE) -> ApiKey:
    return ApiKey(
        tenant_id=None,
        name=name,
        prefix=prefix,
        key_hash=key_hash,
        role=Role.PLATFORM_ADMIN.value,
        source=source,
    )


def admin_key_banner(plaintext: str) -> str:
    """The one-time message that shows a generated admin key."""
    rule = "=" * 72
    return (
        f"\n{rule}\n"
        "  A platform admin API key was created. It is shown ONCE; store it now:\n\n"
        f"    {plaintext}\n\n"
        "  Use it as:  Authorization: Bearer <key>\n"
        "  (set RAG_ADMIN_API_KEY to supply your own key instead)\n"
        f"{rule}\n"
    )
