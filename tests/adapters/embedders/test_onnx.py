"""OnnxEmbedder on the real int8 ONNX export of the packaged MiniLM, against the torch model."""

from __future__ import annotations

import asyncio
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragplatform.adapters.embedders import onnx as onnx_module
from ragplatform.adapters.embedders import sentence_transformers as st_module
from ragplatform.adapters.embedders.factory import build_embedder
from ragplatform.adapters.embedders.onnx import OnnxEmbedder, OnnxModel, load_onnx_model
from ragplatform.adapters.embedders.onnx_export import MODEL_FILE, cache_dir
from ragplatform.adapters.embedders.sentence_transformers import (
    LocalEmbedder,
    packaged_model_path,
)
from ragplatform.errors import Unavailable
from ragplatform.settings import EmbeddingSettings
from tests.adapters.embedders.test_sentence_transformers import LONG_TEXT, SpyModel

PASSAGES = [
    "Mitochondrial dysfunction is a hallmark of neurodegenerative diseases such as Parkinson's "
    "disease, where loss of complex I activity leads to oxidative stress and neuronal death.",
    "In a randomised controlled trial of 1,204 adults, daily vitamin D supplementation did not "
    "reduce the incidence of upper respiratory tract infections compared with placebo.",
    "CRISPR-Cas9 genome editing in human embryos raises ethical concerns about germline "
    "modification, off-target mutations and mosaicism in the resulting tissues.",
    "Tumour-associated macrophages promote angiogenesis and metastasis by secreting VEGF and "
    "matrix metalloproteinases into the tumour microenvironment.",
    "The gut microbiome of infants delivered by caesarean section differs from that of "
    "vaginally delivered infants during the first year of life.",
    "Statin therapy lowers LDL cholesterol and reduces major cardiovascular events in patients "
    "with established coronary heart disease.",
    "Ünïcode naïve café: résumé of a multicentre study in Zürich and 東京 😀",
    LONG_TEXT,  # past the 256-token limit: truncated the same way
]
QUERIES = [
    "Does vitamin D prevent respiratory infections?",
    "Which cells in tumours promote the growth of new blood vessels?",
    "Statins reduce cardiovascular events in heart disease patients.",
    "gut bacteria after caesarean birth",
]


def assert_same_texts(actual: Any, expected: Any) -> None:
    """Row by row the same texts' vectors: cosine >= 0.99, each nearest to its own row.

    Int8 activations are scaled per batch (dynamic quantisation), so a text's vector moves a
    little with the texts it is batched with; float32 would match to ~1e-6.
    """
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    assert (actual * expected).sum(axis=1).min() >= 0.99
    assert (actual @ expected.T).argmax(axis=1).tolist() == list(range(len(actual)))


def settings(**values: Any) -> EmbeddingSettings:
    """Local settings on the ONNX runtime."""
    return EmbeddingSettings(runtime="onnx", **values)


@pytest.fixture(scope="module")
def onnx_model(onnx_data_dir: Path) -> OnnxModel:
    """The session's export, opened once for this module."""
    return load_onnx_model(settings(), onnx_data_dir)


def test_idle_threads_sleep_instead_of_spinning(onnx_model: OnnxModel) -> None:
    options = onnx_model._session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def make(model: Any, **values: Any) -> OnnxEmbedder:
    """An embedder on an already opened (possibly spied) ONNX model."""
    return OnnxEmbedder(model=model, settings=settings(**values))


def torch_embedder(minilm: Any) -> LocalEmbedder:
    """The default runtime on the session's MiniLM, for comparison."""
    return LocalEmbedder(model=minilm, settings=EmbeddingSettings(cache_size=0))


async def test_describes_the_model_like_torch(onnx_model: OnnxModel, minilm: Any) -> None:
    embedder, reference = make(onnx_model), torch_embedder(minilm)
    assert embedder.model_name == reference.model_name == "all-MiniLM-L6-v2"
    assert embedder.dimension == reference.dimension == 384
    assert embedder.max_tokens == reference.max_tokens == 256


async def test_vectors_are_close_to_torch(onnx_model: OnnxModel, minilm: Any) -> None:
    texts = PASSAGES + QUERIES
    vectors = np.array(await make(onnx_model).embed_documents(texts))
    reference = np.array(await torch_embedder(minilm).embed_documents(texts))
    cosines = (vectors * reference).sum(axis=1)
    assert cosines.min() >= 0.99, dict(zip(texts, cosines.round(4), strict=True))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # The int8 model still ranks: each query is nearest to the passage it is about.
    similarity = vectors[len(PASSAGES) :] @ vectors[: len(PASSAGES)].T
    assert similarity.argmax(axis=1).tolist() == [1, 3, 5, 4]


async def test_queries_are_close_to_torch_and_plain_floats(
    onnx_model: OnnxModel, minilm: Any
) -> None:
    embedder = make(onnx_model)
    for query in QUERIES:
        vector = await embedder.embed_query(query)
        assert type(vector) is list and all(type(value) is float for value in vector)
        reference = await torch_embedder(minilm).embed_query(query)
        assert float(np.dot(vector, reference)) >= 0.99


@pytest.mark.parametrize(
    "text", ["", "hello world", "Ünïcödé naïve café 東京 😀", "x" * 3000, LONG_TEXT]
)
def test_count_tokens_is_identical_to_torch(onnx_model: OnnxModel, minilm: Any, text: str) -> None:
    assert make(onnx_model).count_tokens(text) == torch_embedder(minilm).count_tokens(text)


def test_count_tokens_is_not_truncated(onnx_model: OnnxModel) -> None:
    assert make(onnx_model).count_tokens(LONG_TEXT) > 256


def test_encode_splits_by_batch_size_with_the_same_vectors(onnx_model: OnnxModel) -> None:
    whole = onnx_model.encode(PASSAGES, batch_size=len(PASSAGES), normalize_embeddings=True)
    pieces = onnx_model.encode(PASSAGES, batch_size=3, normalize_embeddings=True)
    assert whole.shape == (len(PASSAGES), 384)
    assert whole.dtype == np.float32
    assert_same_texts(pieces, whole)
    assert onnx_model.encode([], batch_size=4).shape == (0, 384)


def test_encode_runs_longest_texts_first_and_returns_them_in_order(
    onnx_model: OnnxModel,
) -> None:
    texts = ["short", LONG_TEXT, "a sentence of medium length about cells", "tiny", PASSAGES[0]]
    vectors = onnx_model.encode(texts, batch_size=2, normalize_embeddings=True)
    # passes of two, longest first: (LONG_TEXT, PASSAGES[0]), (medium, short), (tiny,); each
    # text's vector is what its own pass gives (int8 scales per pass), back in the text's place
    by_length = [1, 4, 2, 0, 3]
    passes = [
        onnx_model.encode(
            [texts[i] for i in by_length[start : start + 2]],
            batch_size=2,
            normalize_embeddings=True,
        )
        for start in (0, 2, 4)
    ]
    expected = np.empty_like(vectors)
    expected[by_length] = np.concatenate(passes)
    np.testing.assert_allclose(vectors, expected, rtol=0, atol=1e-6)
    # and each text is still nearest to its own vector made alone (int8 activations are scaled
    # per pass, padding included, so a very short text moves most: cosine ~0.98 here)
    alone = onnx_model.encode(texts, batch_size=1, normalize_embeddings=True)
    assert (vectors @ alone.T).argmax(axis=1).tolist() == list(range(len(texts)))


def test_unnormalised_vectors_are_the_mean_of_token_states(onnx_model: OnnxModel) -> None:
    raw = onnx_model.encode(["a cell divides"], normalize_embeddings=False)
    unit = onnx_model.encode(["a cell divides"], normalize_embeddings=True)
    assert np.linalg.norm(raw) > 1.5  # MiniLM's pooled vectors are far from unit length
    np.testing.assert_allclose(raw / np.linalg.norm(raw), unit, atol=1e-6)


async def test_batches_across_boundaries_preserve_order(onnx_model: OnnxModel) -> None:
    texts = [f"sentence number {i} about topic {i % 3}" for i in range(10)]
    spy = SpyModel(onnx_model)
    embedder = make(spy, batch_size=4)
    vectors = await embedder.embed_documents(texts)
    assert [len(call) for call in spy.calls] == [4, 4, 2]
    assert (embedder.batches_embedded, embedder.texts_embedded) == (3, 10)
    # int8 activations are scaled per forward pass, and the embedder runs one text per pass:
    # every vector must come back in its text's place, exactly as the text alone gives it
    expected = onnx_model.encode(texts, batch_size=1, normalize_embeddings=True)
    np.testing.assert_allclose(np.asarray(vectors), expected, rtol=0, atol=1e-6)
    assert all(thread is not threading.main_thread() for thread in spy.threads)


async def test_the_cache_and_cached_false(onnx_model: OnnxModel) -> None:
    spy = SpyModel(onnx_model)
    embedder = make(spy, batch_size=8)
    first = await embedder.embed_documents(["alpha", "beta", "alpha"])
    assert spy.calls == [["alpha", "beta"]]
    again = await embedder.embed_documents(["beta", "gamma"])
    assert spy.calls[-1] == ["gamma"]
    assert (embedder.cache_hits, embedder.cache_misses) == (1, 3)
    assert again[0] == first[1]
    await embedder.embed_documents(["alpha"], cached=False)  # neither read nor filled
    assert spy.calls[-1] == ["alpha"]
    await embedder.embed_query("beta")  # queries never come from the shared cache
    assert spy.calls[-1] == ["beta"]
    assert embedder.cache_hits == 1


async def test_concurrent_requests_coalesce_into_one_batch(onnx_model: OnnxModel) -> None:
    spy = SpyModel(onnx_model, delay_s=0.05)
    embedder = make(spy, batch_size=64)
    first = asyncio.create_task(embedder.embed_documents(["occupies the model"]))
    await asyncio.sleep(0.01)
    rest = await asyncio.gather(*(embedder.embed_documents([f"doc {i}"]) for i in range(5)))
    await first
    assert [len(call) for call in spy.calls] == [1, 5]
    assert len(rest) == 5


async def test_ping_and_close(onnx_model: OnnxModel) -> None:
    embedder = make(onnx_model)
    await embedder.ping()
    assert embedder.texts_embedded == 0
    await embedder.close()
    with pytest.raises(Unavailable, match="closed"):
        await embedder.embed_documents(["after close"])
    with pytest.raises(Unavailable, match="closed"):
        await embedder.ping()


async def test_factory_builds_it_from_the_cached_export(onnx_data_dir: Path) -> None:
    model_file = cache_dir(onnx_data_dir, "all-MiniLM-L6-v2", packaged_model_path()) / MODEL_FILE
    before = model_file.stat()
    embedder = await build_embedder(settings(), data_dir=onnx_data_dir)
    try:
        assert isinstance(embedder, OnnxEmbedder)
        assert len(await embedder.embed_query("hello")) == 384
    finally:
        await embedder.close()
    after = model_file.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


async def test_onnx_is_the_default_runtime(onnx_data_dir: Path) -> None:
    assert EmbeddingSettings().runtime == "onnx"
    embedder = await build_embedder(EmbeddingSettings(), data_dir=onnx_data_dir)
    try:
        assert isinstance(embedder, OnnxEmbedder)
        assert embedder.micro_batch == 1  # one text per forward pass unless configured
    finally:
        await embedder.close()


async def test_factory_builds_torch_when_asked(
    minilm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_onnx(*_: Any) -> Any:
        raise AssertionError("the ONNX runtime must not load for runtime=torch")

    monkeypatch.setattr(onnx_module, "load_onnx_model", no_onnx)
    monkeypatch.setattr(st_module, "load_model", lambda _settings: minilm)
    embedder = await build_embedder(EmbeddingSettings(runtime="torch"), data_dir=Path("unused"))
    assert type(embedder) is LocalEmbedder
    assert embedder.micro_batch == 8


async def test_export_dir_holds_the_export_instead_of_the_data_dir(
    onnx_data_dir: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "exports"
    entry = cache_dir(onnx_data_dir, "all-MiniLM-L6-v2", packaged_model_path())
    shutil.copytree(entry, shared / entry.name)  # as a replica would find it, pre-exported
    data_dir = tmp_path / "data"
    model = load_onnx_model(settings(export_dir=shared), data_dir)
    assert model.get_embedding_dimension() == 384
    assert not (data_dir / "models").exists()


async def test_a_text_vector_does_not_depend_on_its_batch_mates(onnx_model: OnnxModel) -> None:
    embedder = make(onnx_model, cache_size=0)  # the default: one text per forward pass
    alone = await embedder.embed_documents([PASSAGES[6]])
    mixed = await embedder.embed_documents([LONG_TEXT, PASSAGES[6], "x", PASSAGES[0]])
    np.testing.assert_array_equal(np.asarray(alone[0]), np.asarray(mixed[1]))


async def test_load_opens_the_model_in_a_thread(
    onnx_model: OnnxModel, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[Path, threading.Thread]] = []

    def spy(_settings: EmbeddingSettings, data_dir: Path) -> OnnxModel:
        calls.append((data_dir, threading.current_thread()))
        return onnx_model

    monkeypatch.setattr(onnx_module, "load_onnx_model", spy)
    embedder = await OnnxEmbedder.load(settings(model="minilm-int8"), data_dir=tmp_path)
    assert embedder.model_name == "minilm-int8"
    assert calls[0][0] == tmp_path
    assert calls[0][1] is not threading.main_thread()
