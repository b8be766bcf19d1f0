"""Helpers shared by the command-line modules: one-line failures, settings or exit."""

from __future__ import annotations

from typing import Any, NoReturn

import typer

from ragplatform.settings import Settings, SettingsError, load_settings


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line to stderr and exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def settings_or_exit(**overrides: Any) -> Settings:
    """Load settings; bad values print one line each and exit with status 2."""
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        for line in exc.lines:
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(2) from None
