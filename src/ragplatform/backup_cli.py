"""``ragplatform backup|restore`` and ``ragplatform tenants export|import``.

Backups and tenant moves work offline on a data dir nobody serves, or through the platform-admin
endpoints of a running server: when ``--server``/``RAG_SERVER_URL`` is given, or when the local
data dir turns out to be held by a server (ARCHITECTURE §9). Restores are offline only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from ragplatform.backup_progress import RichProgress
from ragplatform.cli_support import fail, settings_or_exit
from ragplatform.errors import RagPlatformError, StartupError
from ragplatform.settings import Settings

if TYPE_CHECKING:
    from ragplatform.backup.loading import LoadSummary
    from ragplatform.backup.manifest import Manifest

T = TypeVar("T")
_IN_USE = "in use"

tenants_app = typer.Typer(help="Move tenants between deployments.", no_args_is_help=True)

_SERVER = typer.Option(
    envvar="RAG_SERVER_URL", help="A running server's base URL: go through its API"
)
_ADMIN_KEY = typer.Option(
    envvar="RAG_API_KEY", help="A platform admin API key (needed to go through a server)"
)
_OUT = typer.Option(
    "--out", "-o", help="Archive to write: FILE.tar, or FILE.tar.gz / FILE.tgz to compress"
)


def _compressed(path: Path) -> bool:
    return path.name.endswith((".gz", ".tgz"))


def _run(work: Callable[[], Coroutine[Any, Any, T]], *, offline_hint: str = "") -> T:
    """Run ``work``; domain and start-up errors end the command with one line."""
    try:
        return asyncio.run(work())
    except RagPlatformError as exc:
        fail(exc.detail)
    except StartupError as exc:
        message = str(exc)
        fail(f"{message}: {offline_hint}" if offline_hint and _IN_USE in message else message)


def _offline_first(work: Callable[[], T], api_key: str | None, verb: str) -> T | None:
    """``work()`` on the local data dir, or None when a server holds it and a key can go through.

    Domain and start-up errors end the command with one line; a held data dir without a key
    ends it with how to go through the server instead.
    """
    try:
        return work()
    except RagPlatformError as exc:
        fail(exc.detail)
    except StartupError as exc:
        if _IN_USE not in str(exc):
            fail(str(exc))
        if not api_key:
            fail(
                f"{exc}: a server is running on it; pass --api-key with a platform admin "
                f"key (or set RAG_API_KEY) to {verb} through it",
                code=2,
            )
    return None


def _report_manifest(out: Path, manifest: Manifest) -> None:
    size = out.stat().st_size
    documents = manifest.tables.get("documents", 0)
    tenants = manifest.tables.get("tenants", 0)
    typer.echo(
        f"wrote {out} ({size / 1e6:.1f} MB): {tenants} tenant(s), {documents} document(s), "
        f"{manifest.chunks} chunk(s), {manifest.originals} original(s)"
    )
    consistency = manifest.consistency
    if consistency.requeued_documents or consistency.dropped_documents:
        typer.echo(
            f"note: {len(consistency.requeued_documents)} document(s) changed during the backup "
            f"and will be re-indexed after a restore; {len(consistency.dropped_documents)} "
            "left out (their original was gone); see the manifest",
            err=True,
        )


def _write_offline(
    settings: Settings, out: Path, tenant_slug: str | None, console: Console
) -> Manifest:
    from ragplatform.backup.deployment import open_deployment
    from ragplatform.backup.writer import write_archive

    partial = out.with_name(out.name + ".partial")

    async def work() -> Manifest:
        async with open_deployment(settings) as deployment:
            with partial.open("wb") as sink, RichProgress(console) as progress:
                return await write_archive(
                    deployment,
                    sink,
                    compress=_compressed(out),
                    tenant_slug=tenant_slug,
                    progress=progress,
                )

    try:
        manifest = asyncio.run(work())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.rename(out)
    return manifest


def _archive_out(
    out: Path, server: str | None, api_key: str | None, remote_path: str, slug: str | None
) -> None:
    """Write a backup (or a tenant archive), offline or through a server."""
    from ragplatform.backup_remote import Remote, local_server_url

    console = Console(stderr=True)
    if out.exists():
        fail(f"{out} already exists: choose another name or remove it", code=2)
    if server is None:
        manifest = _offline_first(
            lambda: _write_offline(settings_or_exit(), out, slug, console), api_key, "go"
        )
        if manifest is not None:
            _report_manifest(out, manifest)
            return
        server = local_server_url()
    if not api_key:
        fail("an API key is needed: pass --api-key or set RAG_API_KEY", code=2)
    with Remote(server, api_key) as remote:
        manifest = remote.download(remote_path, out, compress=_compressed(out), console=console)
    _report_manifest(out, manifest)


def backup_command(
    out: Annotated[Path, _OUT],
    server: Annotated[str | None, _SERVER] = None,
    api_key: Annotated[str | None, _ADMIN_KEY] = None,
) -> None:
    """Back up every tenant: rows, vectors and originals in one verifiable archive."""
    _archive_out(out, server, api_key, "/api/v1/admin/backup", None)


def restore_command(
    archive: Annotated[Path, typer.Argument(help="An archive written by `ragplatform backup`")],
) -> None:
    """Restore a backup into an empty data dir and database (offline: no server running)."""
    from ragplatform.backup.restore import restore_backup
    from ragplatform.db.engine import redact_url

    settings = settings_or_exit()
    console = Console(stderr=True)

    async def work() -> LoadSummary:
        with RichProgress(console) as progress:
            return await restore_backup(settings, archive, progress=progress)

    summary = _run(work, offline_hint="stop the server first: restore works offline")
    where = f"{settings.data_dir} ({redact_url(settings.database_url)})"
    typer.echo(f"restored {summary.describe()} into {where} in {summary.seconds:.1f}s")


@tenants_app.command("export")
def tenants_export(
    slug: Annotated[str, typer.Argument(help="The tenant's slug")],
    out: Annotated[Path, _OUT],
    server: Annotated[str | None, _SERVER] = None,
    api_key: Annotated[str | None, _ADMIN_KEY] = None,
) -> None:
    """Export one tenant (rows, vectors, originals) to import into another deployment."""
    _archive_out(out, server, api_key, f"/api/v1/admin/tenants/{slug}/export", slug)


def _import_offline(settings: Settings, archive: Path, console: Console) -> LoadSummary:
    from ragplatform.backup.deployment import open_deployment
    from ragplatform.backup.loading import check_loadable, staged_archive
    from ragplatform.backup.manifest import EmbeddingInfo
    from ragplatform.backup.tenant_transfer import import_archive

    async def work() -> LoadSummary:
        with RichProgress(console) as progress:
            async with staged_archive(archive, progress) as verified:
                manifest = verified.manifest
                target = EmbeddingInfo(
                    model=settings.embedding.model, dimension=settings.embedding.dimension
                )
                check_loadable(manifest, kind="tenant", target=target)
                async with open_deployment(settings, embedding=manifest.embedding) as deployment:
                    return await import_archive(
                        deployment, verified, actor="cli", progress=progress
                    )

    return asyncio.run(work())


@tenants_app.command("import")
def tenants_import(
    archive: Annotated[Path, typer.Argument(help="An archive from `ragplatform tenants export`")],
    server: Annotated[str | None, _SERVER] = None,
    api_key: Annotated[str | None, _ADMIN_KEY] = None,
) -> None:
    """Import a tenant archive; its slug and ids must be new here. Nothing is re-embedded."""
    from ragplatform.backup_remote import Remote, local_server_url

    console = Console(stderr=True)
    if not archive.is_file():
        fail(f"{archive}: no such file", code=2)
    result: dict[str, Any]
    if server is None:
        summary = _offline_first(
            lambda: _import_offline(settings_or_exit(), archive, console), api_key, "import"
        )
        if summary is not None:
            typer.echo(f"imported tenant {summary.slug}: {summary.describe()}")
            return
        server = local_server_url()
    if not api_key:
        fail("an API key is needed: pass --api-key or set RAG_API_KEY", code=2)
    with Remote(server, api_key) as remote:
        result = remote.upload(archive, console=console)
    typer.echo(
        f"imported tenant {result['slug']}: {result['documents']} document(s), "
        f"{result['chunks']} chunk(s), {result['originals']} original(s)"
        + (f"; {result['requeued']} queued for re-indexing" if result.get("requeued") else "")
    )
