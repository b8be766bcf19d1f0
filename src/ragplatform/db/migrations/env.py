"""Alembic environment: runs on a connection handed in by ragplatform.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from ragplatform.db.models import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached through the bare alembic CLI
    raise RuntimeError("run migrations with `ragplatform migrate`")
_run(connection)
