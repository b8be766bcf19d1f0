"""Start-up checks that turn a missing or stale database into one readable line."""

from __future__ import annotations

from ragplatform.db.engine import Database, redact_url
from ragplatform.db.migrate import MIGRATIONS_DIR, current_revision, head_revision
from ragplatform.errors import StartupError


def _known_revisions() -> set[str]:
    return {p.stem.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py")}


async def check_database(db: Database) -> str:
    """Raise :class:`StartupError` unless the database answers and is at head; return it."""
    where = redact_url(db.url)
    try:
        await db.ping()
        revision = await current_revision(db)
    except TimeoutError:
        raise StartupError(f"cannot reach the metadata database at {where}: timed out") from None
    except Exception as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        first = reason[0] if reason else type(exc).__name__
        raise StartupError(f"cannot reach the metadata database at {where}: {first}") from None
    head = head_revision()
    if revision == head:
        return revision
    if revision is None:
        raise StartupError(
            f"the metadata database at {where} has no schema yet: run `ragplatform migrate`"
        )
    if revision not in _known_revisions():
        raise StartupError(
            f"the metadata database at {where} is at revision {revision}, newer than this "
            f"version of ragplatform knows (head {head}): upgrade ragplatform"
        )
    raise StartupError(
        f"the metadata database at {where} is at revision {revision} but this version needs "
        f"{head}: run `ragplatform migrate`"
    )
