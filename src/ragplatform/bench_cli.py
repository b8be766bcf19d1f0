"""``ragplatform bench ingest|search|ask``: the benchmarks of a source checkout, by name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from ragplatform.cli_support import fail

BENCHMARKS = ("ingest", "search", "ask")


def bench_command(
    name: Annotated[str, typer.Argument(help="ingest, search or ask")],
    limit: Annotated[int, typer.Option(help="SciFact abstracts to index")] = 1000,
) -> None:
    """Run a benchmark against a real server process; it appends to benchmarks/RESULTS.md."""
    if name not in BENCHMARKS:
        fail(f"unknown benchmark {name!r}: choose ingest, search or ask", code=2)
    script = Path.cwd() / "benchmarks" / f"{name}_bench.py"
    if not script.is_file():
        fail("benchmarks live in the source checkout: run this from the repository root", code=2)
    command = [sys.executable, "-m", f"benchmarks.{name}_bench", "--limit", str(limit)]
    raise typer.Exit(subprocess.run(command, check=False).returncode)  # noqa: S603 - fixed argv
