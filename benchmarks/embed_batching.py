"""Ingestion embedding throughput by forward-pass size, on both local runtimes.

    .venv/bin/python -m benchmarks.embed_batching [--docs 150] [--rounds 3] [--sizes 64 32 16 8 4 2]

The platform hands the model up to ``RAG_EMBEDDING__BATCH_SIZE`` (64) texts per call; the
model then runs them in forward passes of ``RAG_EMBEDDING__MICRO_BATCH_SIZE`` texts, longest
first, each padded only to its own longest text. The texts are what ingestion embeds: SciFact
abstracts chunked as the platform chunks them (200/40 tokens, each chunk indexed with its title;
a document's last chunk is usually short), in upload order. Both runtimes
(``LocalEmbedder`` and ``OnnxEmbedder``, no cache) run every size round by round, the order
reversed each round; the figure is the median texts/s and its ratio to torch with one 64-text
pass (the platform before micro-batches). Vectors of every size are checked against that
baseline (cosine) so a faster setting never trades away the vectors.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import DATASET, record
from benchmarks.representation_variants import VARIANTS, chunks_of
from ragplatform.evaluation.beir import load

WORK = Path("/tmp/ragplatform-bench-onnx")  # noqa: S108 - the ONNX export's cache (shared)
BATCH = 64


async def _embedders(sizes: list[int]) -> dict[tuple[str, int], Any]:
    from ragplatform.adapters.embedders.onnx import OnnxEmbedder, load_onnx_model
    from ragplatform.adapters.embedders.sentence_transformers import LocalEmbedder, load_model
    from ragplatform.settings import EmbeddingSettings

    torch_model = await asyncio.to_thread(load_model, EmbeddingSettings())
    onnx_model = await asyncio.to_thread(
        load_onnx_model, EmbeddingSettings(runtime="onnx"), WORK / "data"
    )
    out: dict[tuple[str, int], Any] = {}
    for size in sizes:
        for runtime, model, cls in (
            ("torch", torch_model, LocalEmbedder),
            ("onnx", onnx_model, OnnxEmbedder),
        ):
            settings = EmbeddingSettings(
                runtime=runtime, cache_size=0, batch_size=BATCH, micro_batch_size=size
            )
            out[(runtime, size)] = cls(model=model, settings=settings)
    return out


def texts_of(docs: int) -> list[str]:
    """The indexed chunk texts of the first ``docs`` abstracts, in upload order."""
    from transformers import AutoTokenizer

    from ragplatform.adapters.embedders.sentence_transformers import packaged_model_path

    tokenizer = AutoTokenizer.from_pretrained(str(packaged_model_path()))

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))

    corpus = list(load(DATASET, "train").corpus)[:docs]
    variant = VARIANTS["200/40 title context"]
    return [indexed for doc in corpus for _, indexed in chunks_of(doc, variant, count)]


async def run(docs: int, rounds: int, sizes: list[int]) -> dict[str, Any]:
    texts = texts_of(docs)
    embedders = await _embedders(sizes)
    rates: dict[tuple[str, int], list[float]] = {key: [] for key in embedders}
    vectors: dict[tuple[str, int], np.ndarray] = {}
    for embedder in embedders.values():  # warm up: first calls allocate
        await embedder.embed_documents(texts[:BATCH], cached=False)
    for index in range(rounds):
        order = list(embedders) if index % 2 == 0 else list(reversed(embedders))
        for key in order:
            started = time.perf_counter()
            out = await embedders[key].embed_documents(texts, cached=False)
            rates[key].append(len(texts) / (time.perf_counter() - started))
            vectors[key] = np.asarray(out, dtype=np.float32)
        line = ", ".join(f"{r} {s}: {rates[(r, s)][-1]:.1f}" for r, s in embedders)
        print(f"round {index + 1} (texts/s): {line}", flush=True)
    base_key = ("torch", BATCH)
    base = statistics.median(rates[base_key])
    results = {}
    for (runtime, size), values in rates.items():
        same_runtime = vectors[(runtime, BATCH)]
        results[f"{runtime} {size}"] = {
            "runtime": runtime,
            "micro_batch_size": size,
            "texts_per_s_median": round(statistics.median(values), 2),
            "texts_per_s_rounds": [round(v, 2) for v in values],
            "vs_torch_64": round(statistics.median(values) / base, 3),
            "min_cosine_vs_same_runtime_64": round(
                float((vectors[(runtime, size)] * same_runtime).sum(axis=1).min()), 5
            ),
            "min_cosine_vs_torch_64": round(
                float((vectors[(runtime, size)] * vectors[base_key]).sum(axis=1).min()), 5
            ),
        }
    for embedder in embedders.values():
        await embedder.close()
    lengths = [len(t) for t in texts]
    return {
        "texts": len(texts),
        "docs": docs,
        "chars_median": statistics.median(lengths),
        "chars_min": min(lengths),
        "chars_max": max(lengths),
        "rounds": rounds,
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 32, 16, 8, 4, 2])
    args = parser.parse_args()
    if BATCH not in args.sizes:
        args.sizes.insert(0, BATCH)  # the baseline is always measured
    data = asyncio.run(run(args.docs, args.rounds, args.sizes))
    table = [
        "",
        "| Runtime | Forward pass (texts) | texts/s (median) | vs torch, one 64-text pass "
        "| min cosine vs same runtime at 64 |",
        "|---|---|---|---|---|",
    ]
    for row in data["results"].values():
        table.append(
            f"| {row['runtime']} | {row['micro_batch_size']} | {row['texts_per_s_median']:.1f} "
            f"| {row['vs_torch_64']:.2f}x | {row['min_cosine_vs_same_runtime_64']:.4f} |"
        )
    lines = [
        f"{data['texts']} chunk texts of the first {data['docs']} SciFact abstracts (200/40 "
        f"tokens, title context; {data['chars_min']}-{data['chars_max']} characters, median "
        f"{data['chars_median']:.0f}), {BATCH} texts per model call, {data['rounds']} "
        "interleaved rounds, no cache" + "\n" + "\n".join(table)
    ]
    command = "python -m benchmarks.embed_batching " + " ".join(
        [f"--docs {args.docs}", f"--rounds {args.rounds}", "--sizes", *map(str, args.sizes)]
    )
    record("Embedding forward-pass size (ingestion texts)", command, lines, data)


if __name__ == "__main__":
    main()
