"""CrossEncoderReranker on a real (locally built) cross-encoder: scores, order, errors."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragplatform.adapters.embedders.sentence_transformers import packaged_model_path
from ragplatform.adapters.rerankers.cross_encoder import (
    CrossEncoderReranker,
    check_cross_encoder_dir,
    load_cross_encoder,
)
from ragplatform.adapters.rerankers.factory import build_reranker
from ragplatform.answer_settings import RerankSettings
from ragplatform.errors import StartupError, Unavailable

QUERY = "how does the heart pump blood"
TEXTS = [
    "The heart pumps blood through the arteries to every organ.",
    "Stars fuse hydrogen into helium in their cores.",
    "Taxes are due in April for most residents.",
    "Cardiac muscle contracts rhythmically to move blood.",
]


def local(path: Path, **overrides: Any) -> RerankSettings:
    return RerankSettings(provider="local", model_path=path, **overrides)


def expected(model: Any, query: str, texts: list[str]) -> np.ndarray:
    """The model's own scores for the pairs, one at a time (no batching effects)."""
    return np.array([float(model.predict([(query, t)], show_progress_bar=False)[0]) for t in texts])


@pytest.fixture
def reranker(cross_encoder: Any, cross_encoder_dir: Path) -> CrossEncoderReranker:
    return CrossEncoderReranker(model=cross_encoder, settings=local(cross_encoder_dir))


async def test_scores_are_the_models_in_input_order(
    reranker: CrossEncoderReranker, cross_encoder: Any
) -> None:
    scores = await reranker.rerank(QUERY, TEXTS)
    assert all(type(s) is float for s in scores)
    np.testing.assert_allclose(scores, expected(cross_encoder, QUERY, TEXTS), atol=1e-5)
    assert len(set(scores)) == len(TEXTS)  # a real model: distinct texts, distinct scores
    again = await reranker.rerank(QUERY, TEXTS)
    assert again == scores  # deterministic
    reversed_scores = await reranker.rerank(QUERY, TEXTS[::-1])
    np.testing.assert_allclose(reversed_scores, scores[::-1], atol=1e-5)
    assert reranker.pairs_scored == 12 and reranker.calls == 3


async def test_batch_size_does_not_change_scores(
    cross_encoder: Any, cross_encoder_dir: Path, reranker: CrossEncoderReranker
) -> None:
    small = CrossEncoderReranker(
        model=cross_encoder, settings=local(cross_encoder_dir, batch_size=1)
    )
    np.testing.assert_allclose(
        await small.rerank(QUERY, TEXTS), await reranker.rerank(QUERY, TEXTS), atol=1e-5
    )


async def test_scoring_runs_off_the_event_loop(
    cross_encoder: Any, reranker: CrossEncoderReranker
) -> None:
    threads: list[int] = []
    original = reranker._predict

    def spy(model: Any, query: str, texts: list[str]) -> list[float]:
        threads.append(threading.get_ident())
        return original(model, query, texts)

    reranker._predict = spy  # type: ignore[method-assign]
    await reranker.rerank(QUERY, TEXTS[:1])
    assert threads and threads[0] != threading.get_ident()


async def test_empty_input_scores_nothing(reranker: CrossEncoderReranker) -> None:
    assert await reranker.rerank(QUERY, []) == []
    assert reranker.calls == 0


async def test_ping_and_close(reranker: CrossEncoderReranker) -> None:
    await reranker.ping()
    await reranker.close()
    with pytest.raises(Unavailable) as rerank_error:
        await reranker.rerank(QUERY, TEXTS)
    assert rerank_error.value.code == "reranker_closed"
    with pytest.raises(Unavailable):
        await reranker.ping()


async def test_ping_deadline(cross_encoder: Any, cross_encoder_dir: Path) -> None:
    slow = CrossEncoderReranker(
        model=cross_encoder, settings=local(cross_encoder_dir), ping_timeout_s=1e-9
    )
    with pytest.raises(Unavailable, match="did not answer") as error:
        await slow.ping()
    assert error.value.code == "reranker_unavailable"


def test_name_is_the_model_setting_or_the_directory(
    cross_encoder: Any, cross_encoder_dir: Path
) -> None:
    by_dir = CrossEncoderReranker(model=cross_encoder, settings=local(cross_encoder_dir))
    assert by_dir.name == cross_encoder_dir.name
    named = CrossEncoderReranker(
        model=cross_encoder, settings=local(cross_encoder_dir, model="ms-marco-MiniLM-L6-v2")
    )
    assert named.name == "ms-marco-MiniLM-L6-v2"


async def test_factory_loads_the_local_model(cross_encoder_dir: Path) -> None:
    reranker = await build_reranker(local(cross_encoder_dir))
    assert isinstance(reranker, CrossEncoderReranker)
    assert len(await reranker.rerank(QUERY, TEXTS[:2])) == 2
    await reranker.close()


async def test_factory_off_is_none() -> None:
    assert await build_reranker(RerankSettings()) is None


def test_the_embedding_model_is_refused_as_a_cross_encoder() -> None:
    try:
        minilm = packaged_model_path()
    except StartupError as exc:
        pytest.skip(str(exc))
    with pytest.raises(StartupError, match="is not a cross-encoder") as error:
        load_cross_encoder(local(minilm))
    assert "RAG_RERANK__MODEL_PATH" in str(error.value)


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="is not a directory"):
        check_cross_encoder_dir(tmp_path / "nowhere")


def test_a_directory_without_config_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("not json")
    with pytest.raises(StartupError, match=r"no readable config\.json"):
        check_cross_encoder_dir(tmp_path)


def test_a_multi_label_classifier_is_refused(tmp_path: Path) -> None:
    config = {
        "architectures": ["BertForSequenceClassification"],
        "id2label": {"0": "contradiction", "1": "entailment", "2": "neutral"},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(StartupError, match="3-label classifier"):
        check_cross_encoder_dir(tmp_path)


def test_a_sentence_transformer_config_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"architectures": ["BertForSequenceClassification"]})
    )
    (tmp_path / "config_sentence_transformers.json").write_text(
        json.dumps({"model_type": "SentenceTransformer"})
    )
    with pytest.raises(StartupError, match=r"not a cross-encoder \(SentenceTransformer\)"):
        check_cross_encoder_dir(tmp_path)


def test_a_directory_without_weights_fails_to_load(tmp_path: Path, cross_encoder_dir: Path) -> None:
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        source = cross_encoder_dir / name
        if source.exists():
            (tmp_path / name).write_bytes(source.read_bytes())
    with pytest.raises(StartupError, match="cannot load the cross-encoder"):
        load_cross_encoder(local(tmp_path))


def test_model_path_is_required() -> None:
    settings = RerankSettings.model_construct(provider="local", model_path=None)
    with pytest.raises(StartupError, match="RAG_RERANK__MODEL_PATH"):
        load_cross_encoder(settings)


def test_a_sentence_transformers_cross_encoder_config_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps(
            {"architectures": ["XLMRobertaForSequenceClassification"], "id2label": {"0": "LABEL_0"}}
        )
    )
    (tmp_path / "config_sentence_transformers.json").write_text(
        json.dumps({"model_type": "CrossEncoder", "activation_fn": "torch.nn.Sigmoid"})
    )
    assert check_cross_encoder_dir(tmp_path) == "XLMRobertaForSequenceClassification"


def test_the_built_model_is_a_cross_encoder(cross_encoder_dir: Path) -> None:
    assert check_cross_encoder_dir(cross_encoder_dir) == "BertForSequenceClassification"
