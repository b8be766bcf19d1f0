"""The ``ragplatform`` command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import platform
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from pydantic import ValidationError

from ragplatform import __version__
from ragplatform.backup_cli import backup_command, restore_command, tenants_app
from ragplatform.bench_cli import bench_command
from ragplatform.cli_support import fail, settings_or_exit
from ragplatform.db.engine import Database, redact_url
from ragplatform.errors import StartupError
from ragplatform.evaluation.command import eval_command
from ragplatform.settings import (
    Settings,
    describe_validation_error,
)

T = TypeVar("T")

app = typer.Typer(
    name="ragplatform",
    help="Self-hosted, multi-tenant RAG platform: serve the API, migrate, inspect settings.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)
migrate_app = typer.Typer(
    help="Apply or revert metadata database migrations (no sub-command: upgrade to the newest)."
)
admin_app = typer.Typer(help="Platform administration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(admin_app, name="admin")
app.add_typer(migrate_app, name="migrate")


app.command("eval")(eval_command)
app.command("bench")(bench_command)
app.command("backup")(backup_command)
app.command("restore")(restore_command)
app.add_typer(tenants_app, name="tenants")


def run_with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` against a database built from settings and always dispose it."""

    async def runner() -> T:
        db = Database(settings.database_url, settings.database)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(runner())


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [default: RAG_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: RAG_PORT]")] = None,
) -> None:
    """Serve the HTTP API (checks the database first; run `migrate` before)."""
    import uvicorn

    from ragplatform.db.preflight import check_database
    from ragplatform.main import create_app

    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = settings_or_exit(**overrides)
    try:
        run_with_database(settings, check_database)
    except StartupError as exc:
        fail(str(exc))
    application = create_app(settings)
    typer.echo(
        f"ragplatform {__version__} serving on http://{settings.host}:{settings.port} "
        f"(env={settings.env}, database={redact_url(settings.database_url)})",
        err=True,
    )
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
    )


@migrate_app.callback(invoke_without_command=True)
def migrate(ctx: typer.Context) -> None:
    """Upgrade the metadata database to the newest schema when no sub-command is given."""
    if ctx.invoked_subcommand is None:
        upgrade("head")


@migrate_app.command("upgrade")
def upgrade(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Apply migrations up to REVISION."""
    from ragplatform.db import migrate as migrations

    settings = settings_or_exit()

    async def work(db: Database) -> tuple[str | None, str | None]:
        before = await migrations.current_revision(db)
        await migrations.upgrade(db, revision)
        return before, await migrations.current_revision(db)

    before, after = _migration_step(settings, work)
    where = redact_url(settings.database_url)
    typer.echo(f"{where}: schema {before or 'empty'} -> {after or 'empty'}")


@migrate_app.command("downgrade")
def downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision ('base' drops everything)")],
) -> None:
    """Revert migrations down to REVISION."""
    from ragplatform.db import migrate as migrations

    settings = settings_or_exit()

    async def work(db: Database) -> tuple[str | None, str | None]:
        before = await migrations.current_revision(db)
        await migrations.downgrade(db, revision)
        return before, await migrations.current_revision(db)

    before, after = _migration_step(settings, work)
    typer.echo(
        f"{redact_url(settings.database_url)}: schema {before or 'empty'} -> {after or 'empty'}"
    )


@migrate_app.command("current")
def current() -> None:
    """Print the database's schema revision and the newest one this version ships."""
    from ragplatform.db import migrate as migrations

    settings = settings_or_exit()
    revision = _migration_step(settings, migrations.current_revision)
    typer.echo(f"current: {revision or 'empty'}  head: {migrations.head_revision()}")


def _migration_step(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    try:
        return run_with_database(settings, work)
    except Exception as exc:
        from alembic.util import CommandError

        where = redact_url(settings.database_url)
        if isinstance(exc, CommandError):
            fail(f"{where}: {exc}")
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        fail(f"cannot migrate the database at {where}: {reason[0] if reason else type(exc)}")


def masked_settings(settings: Settings) -> dict[str, Any]:
    """The effective settings as JSON-ready data, secrets and passwords masked."""
    data: dict[str, Any] = settings.model_dump(mode="json")
    data["database"]["url"] = redact_url(settings.database_url)
    data["log"]["effective_format"] = settings.log_format
    return data


@config_app.command("show")
def config_show() -> None:
    """Print the effective settings (environment, .env, defaults) with secrets masked."""
    typer.echo(json.dumps(masked_settings(settings_or_exit()), indent=2))


@admin_app.command("create-key")
def admin_create_key(
    name: Annotated[str, typer.Option(help="A label for the key")] = "cli admin key",
) -> None:
    """Create a platform admin API key and print it (shown once)."""
    from ragplatform.db.preflight import check_database
    from ragplatform.tenancy.bootstrap import create_platform_admin_key

    settings = settings_or_exit()

    async def work(db: Database) -> str:
        await check_database(db)
        async with db.session() as session:
            return await create_platform_admin_key(session, name=name)

    try:
        key = run_with_database(settings, work)
    except StartupError as exc:
        fail(str(exc))
    typer.echo(key)
    typer.echo("Store this key now: it is shown only once.", err=True)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories (walked recursively)")],
    collection: Annotated[str, typer.Option(help="Collection name (created if missing)")],
    server: Annotated[
        str | None,
        typer.Option(envvar="RAG_SERVER_URL", help="API base URL [default: the local server]"),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="RAG_API_KEY", help="An editor (or higher) API key")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Wait until every document is indexed")] = True,
) -> None:
    """Upload files into a collection through the API and report what happened."""
    from rich.console import Console

    from ragplatform.client import ApiClient, ApiError
    from ragplatform.ingest_cli import ingest as run_ingest
    from ragplatform.ingest_cli import report, walk

    if not api_key:
        fail("an API key is needed: pass --api-key or set RAG_API_KEY", code=2)
    base = server or _local_server_url()
    try:
        files = list(walk(paths))
    except FileNotFoundError as exc:
        fail(str(exc), code=2)
    if not files:
        fail("no files found under the given paths", code=2)
    console = Console(stderr=True)
    client = ApiClient(base, api_key)
    try:
        summary = run_ingest(client, files, collection=collection, wait=wait, console=console)
    except ApiError as exc:
        fail(str(exc))
    except httpx.TransportError as exc:
        fail(f"cannot reach the server at {base}: {exc}")
    finally:
        client.close()
    report(summary, Console())
    if summary.failed:
        raise typer.Exit(1)


_SERVER = typer.Option(envvar="RAG_SERVER_URL", help="API base URL [default: the local server]")
_FILTER = typer.Option(
    "--filter", help='Metadata filter as JSON, e.g. \'{"field": "year", "gte": 2020}\''
)


@contextlib.contextmanager
def _query_client(server: str | None, api_key: str | None) -> Iterator[Any]:
    """A client of the server; bad options, problems and transport errors end in one line."""
    from ragplatform.client import ApiClient, ApiError

    if not api_key:
        fail("an API key is needed: pass --api-key or set RAG_API_KEY", code=2)
    base = server or _local_server_url()
    client = ApiClient(base, api_key)
    try:
        yield client
    except ValueError as exc:
        fail(str(exc), code=2)
    except ApiError as exc:
        fail(str(exc))
    except httpx.TransportError as exc:
        fail(f"cannot reach the server at {base}: {exc}")
    finally:
        client.close()


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for")],
    collection: Annotated[
        list[str] | None, typer.Option(help="Collection name (repeatable; default: all)")
    ] = None,
    mode: Annotated[str, typer.Option(help="hybrid, dense or keyword")] = "hybrid",
    top_k: Annotated[int, typer.Option(help="How many hits")] = 5,
    filter_json: Annotated[str | None, _FILTER] = None,
    server: Annotated[str | None, _SERVER] = None,
    api_key: Annotated[str | None, typer.Option(envvar="RAG_API_KEY", help="An API key")] = None,
) -> None:
    """Search a running server and print the hits."""
    from ragplatform.query_cli import print_hits, request_body

    with _query_client(server, api_key) as client:
        body = request_body(client, collection, filter_json, query=query, mode=mode, top_k=top_k)
        result = client.post("/api/v1/search", json=body)
    print_hits(result, sys.stdout)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question")],
    collection: Annotated[
        list[str] | None, typer.Option(help="Collection name (repeatable; default: all)")
    ] = None,
    top_k: Annotated[int | None, typer.Option(help="Passages to retrieve")] = None,
    filter_json: Annotated[str | None, _FILTER] = None,
    server: Annotated[str | None, _SERVER] = None,
    api_key: Annotated[str | None, typer.Option(envvar="RAG_API_KEY", help="An API key")] = None,
) -> None:
    """Ask a running server; the answer streams to the terminal, then its sources."""
    from ragplatform.query_cli import request_body, stream_answer

    with _query_client(server, api_key) as client:
        extra = {"top_k": top_k} if top_k else {}
        body = request_body(client, collection, filter_json, question=question, **extra)
        stream_answer(client, body, sys.stdout)


def _local_server_url() -> str:
    from ragplatform.settings import ServerAddress

    try:
        return ServerAddress().url
    except ValidationError as exc:
        fail("; ".join(describe_validation_error(exc)), code=2)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"ragplatform {__version__} (Python {platform.python_version()})")


def main() -> None:
    """Console-script entry point."""
    app(prog_name="ragplatform")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())  # type: ignore[func-returns-value]
