"""``ragplatform eval`` end to end on a tiny BEIR dataset, in process with the real model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragplatform.cli import app
from tests.evaluation.test_beir import write_dataset
from tests.support import TEST_SECRET

runner = CliRunner()
DOCS = {
    "otter": ("Sea otters", "Sea otters hold hands while they sleep so they do not drift apart."),
    "bee": ("Honey bees", "Honey bees communicate the direction of flowers with a waggle dance."),
    "owl": ("Owls", "Owls can rotate their heads about 270 degrees thanks to extra vertebrae."),
    "ant": ("Leafcutter ants", "Leafcutter ants farm a fungus on the leaves they carry home."),
    "bat": ("Bats", "Bats find insects in darkness by echolocation, listening to echoes."),
    "cat": ("Cats", "Domestic cats sleep for twelve to sixteen hours every day."),
}
QUERIES = {
    "q1": "Why do otters hold hands?",
    "q2": "How do bees tell others where flowers are?",
    "q3": "echolocation in the dark",
    "q4": "animals that grow fungus",
}
QRELS = [("q1", "otter", 1), ("q2", "bee", 1), ("q3", "bat", 2), ("q4", "ant", 1)]


@pytest.fixture
def dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAG_ENV", "test")
    monkeypatch.setenv("RAG_AUTH__SECRET_KEY", TEST_SECRET)
    return write_dataset(tmp_path / "animals", DOCS, QUERIES, QRELS)


def test_every_mode_on_a_clean_data_dir(dataset: Path) -> None:
    result = runner.invoke(
        app, ["eval", "--dataset", str(dataset), "--mode", "all", "--top-k", "10", "--json"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["collection"] == "eval-animals" and document["split"] == "test"
    assert set(document["modes"]) == {"hybrid", "dense", "keyword"}
    for figures in document["modes"].values():
        assert figures["queries"] == 4
        assert 0.0 <= figures["ndcg@10"] <= 1.0 and figures["recall@100"] >= figures["recall@10"]
    assert document["modes"]["hybrid"]["ndcg@10"] >= 0.9
    assert document["modes"]["dense"]["mrr@10"] >= 0.9


def test_a_kept_collection_is_reused(dataset: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "keep"
    args = ["eval", "--dataset", str(dataset), "--data-dir", str(data_dir)]
    first = runner.invoke(app, [*args, "--collection", "zoo"])
    assert first.exit_code == 0, first.output
    assert "uploading corpus" in first.output and "nDCG@10" in first.output
    second = runner.invoke(app, [*args, "--collection", "zoo", "--mode", "keyword"])
    assert second.exit_code == 0, second.output
    assert "uploading corpus" not in second.output and "keyword" in second.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "fuzzy"], "--mode must be"),
        (["--top-k", "0"], "--top-k must be between 1 and 100"),
        (["--split", "dev"], "is the split name right"),
        (["--server", "http://127.0.0.1:9"], "--server needs an API key"),
    ],
)
def test_bad_options_exit_2(dataset: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["eval", "--dataset", str(dataset), *args])
    assert result.exit_code == 2 and message in result.output


def test_an_unreachable_server_is_one_line(dataset: Path) -> None:
    result = runner.invoke(
        app, ["eval", "--dataset", str(dataset), "--server", "http://127.0.0.1:9", "--api-key", "k"]
    )
    assert result.exit_code == 1 and "cannot reach the server" in result.output


def test_the_in_process_platform_logs_warnings_only_unless_asked(
    dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["eval", "--dataset", str(dataset), "--mode", "keyword", "--json"]
    quiet = runner.invoke(app, args)
    assert quiet.exit_code == 0, quiet.output
    assert "/api/v1/search" not in quiet.stderr and "started" not in quiet.stderr
    assert "uploading corpus" in quiet.stderr  # the progress bars still show

    monkeypatch.setenv("RAG_LOG__LEVEL", "INFO")
    verbose = runner.invoke(app, args)
    assert verbose.exit_code == 0, verbose.output
    assert "/api/v1/search" in verbose.stderr
    assert json.loads(verbose.stdout)["modes"]["keyword"]["queries"] == 4
