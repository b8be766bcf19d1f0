"""``ragplatform eval``: progress while it works, then a table (or JSON) of the metrics."""

from __future__ import annotations

import asyncio
import json
import tempfile
from contextlib import AbstractAsyncContextManager, ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ragplatform.cli_support import fail, settings_or_exit
from ragplatform.errors import StartupError
from ragplatform.evaluation.beir import Dataset, DatasetError, load
from ragplatform.evaluation.platform import PlatformError, local_platform, remote_platform
from ragplatform.evaluation.runner import ModeResult, evaluate_modes, find_collection, ingest
from ragplatform.settings import Settings

MODES = ("hybrid", "dense", "keyword")


@dataclass(frozen=True)
class EvalOptions:
    """What to evaluate and where."""

    dataset: Dataset
    name: str
    modes: tuple[str, ...]
    top_k: int
    collection: str | None = None
    server: str | None = None
    api_key: str | None = None
    data_dir: Path | None = None


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


async def run_eval(
    options: EvalOptions, settings: Settings | None, console: Console
) -> tuple[list[ModeResult], str]:
    """Ingest (unless the collection exists) and evaluate each mode; the results and collection."""
    with ExitStack() as stack:
        platform: AbstractAsyncContextManager[tuple[httpx.AsyncClient, str]]
        if options.server:
            platform = remote_platform(options.server, options.api_key or "")
        else:
            assert settings is not None
            data_dir = options.data_dir or Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="rag-eval-"))
            )
            platform = local_platform(settings.model_copy(update={"data_dir": data_dir}))
        async with platform as (http, key):
            name = options.collection or options.name
            collection = await find_collection(http, key, name)
            with _progress(console) as progress:
                if collection is None:
                    total = len(options.dataset.corpus)
                    up = progress.add_task("uploading corpus", total=total)
                    done = progress.add_task("indexing corpus", total=total)
                    collection = await ingest(
                        http,
                        key,
                        name=name,
                        corpus=options.dataset.corpus,
                        uploaded=lambda n: progress.advance(up, n),
                        indexed=lambda n: progress.advance(done, n),
                    )
                queries = len(options.dataset.queries) * len(options.modes)
                task = progress.add_task("running queries", total=queries)
                results = await evaluate_modes(
                    http,
                    key,
                    collection=collection,
                    dataset=options.dataset,
                    modes=options.modes,
                    top_k=options.top_k,
                    advance=lambda n: progress.advance(task, n),
                )
            return results, name


def table(results: list[ModeResult], *, title: str) -> Table:
    """The metrics as a table, one row per mode."""
    out = Table(title=title)
    for column in ("mode", "nDCG@10", "Recall@10", "Recall@100", "MRR@10", "queries"):
        out.add_column(column, justify="left" if column == "mode" else "right")
    for result in results:
        s = result.scores
        out.add_row(
            result.mode,
            f"{s.ndcg_10:.4f}",
            f"{s.recall_10:.4f}",
            f"{s.recall_100:.4f}",
            f"{s.mrr_10:.4f}",
            str(s.queries),
        )
    return out


def as_json(results: list[ModeResult], *, dataset: str, split: str, collection: str) -> Any:
    """The metrics as a JSON document."""
    return {
        "dataset": dataset,
        "split": split,
        "collection": collection,
        "modes": {r.mode: r.scores.as_dict() for r in results},
    }


def eval_command(  # noqa: PLR0917 - the command's options
    dataset: Annotated[
        Path, typer.Option(help="A BEIR folder: corpus.jsonl, queries.jsonl, qrels/")
    ],
    split: Annotated[str, typer.Option(help="The qrels split (qrels/<split>.tsv)")] = "test",
    mode: Annotated[str, typer.Option(help="hybrid, dense, keyword or all")] = "hybrid",
    top_k: Annotated[int, typer.Option(help="Chunks retrieved per query (1-100)")] = 100,
    collection: Annotated[
        str | None, typer.Option(help="Use this collection (ingested only if it does not exist)")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Local: keep the platform data here [default: a temp dir]")
    ] = None,
    server: Annotated[
        str | None, typer.Option(help="Evaluate a running server instead (needs --api-key)")
    ] = None,
    api_key: Annotated[str | None, typer.Option(envvar="RAG_API_KEY", help="For --server")] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table")
    ] = False,
) -> None:
    """Measure retrieval quality (nDCG@10, Recall@10/100, MRR@10) on a BEIR dataset."""
    modes = MODES if mode == "all" else (mode,)
    if mode != "all" and mode not in MODES:
        fail(f"--mode must be hybrid, dense, keyword or all (got {mode!r})", code=2)
    if not 1 <= top_k <= 100:
        fail("--top-k must be between 1 and 100", code=2)
    if server and not api_key:
        fail("--server needs an API key: pass --api-key or set RAG_API_KEY", code=2)
    try:
        data = load(dataset, split)
    except DatasetError as exc:
        fail(str(exc), code=2)
    settings = None if server else settings_or_exit()
    options = EvalOptions(
        dataset=data,
        name=collection or f"eval-{dataset.resolve().name}",
        modes=modes,
        top_k=top_k,
        collection=collection,
        server=server,
        api_key=api_key,
        data_dir=data_dir,
    )
    try:
        results, used = asyncio.run(run_eval(options, settings, Console(stderr=True)))
    except (PlatformError, StartupError) as exc:
        fail(str(exc))
    except httpx.TransportError as exc:
        fail(f"cannot reach the server at {server}: {exc}")
    if json_output:
        document = as_json(results, dataset=str(dataset), split=split, collection=used)
        typer.echo(json.dumps(document, indent=2))
    else:
        title = f"{dataset.name} ({split}, {len(data.queries)} queries, top {top_k} chunks)"
        Console().print(table(results, title=title))
