"""Latency of the re-ranking stage on the CPU: one query against ``depth`` SciFact passages.

    .venv/bin/python -m benchmarks.rerank_bench [--model-path DIR] [--depth 50] [--queries 30]

Times ``CrossEncoderReranker.rerank`` as retrieval calls it (model in a thread, batched), the
same work as the ``rerank`` stage histogram. Passages are SciFact abstracts cut to the chunk
size (200 tokens, ``title\\ntext`` as the stage sends them). Without ``--model-path`` a
cross-encoder is built from the packaged MiniLM (trained encoder, untrained one-score head): its
speed is that of any MiniLM-L6 cross-encoder (e.g. ms-marco-MiniLM-L6-v2), its ranking is
meaningless, so no quality figure is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import DATASET, corpus, percentile, record

CHUNK_TOKENS = 200


def build_from_minilm(target: Path) -> Path:
    """A MiniLM-L6 ``BertForSequenceClassification`` with a seeded one-score head."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ragplatform.adapters.embedders.sentence_transformers import packaged_model_path

    source = str(packaged_model_path())
    torch.manual_seed(1234)
    model = AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=1, local_files_only=True
    )
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(source, local_files_only=True).save_pretrained(target)
    return target


def passages(tokenizer: Any, count: int) -> list[str]:
    """``title\\ntext`` of SciFact abstracts, each cut to ``CHUNK_TOKENS`` tokens."""
    out = []
    for row in corpus(count):
        ids = tokenizer(
            row["text"], add_special_tokens=False, truncation=True, max_length=CHUNK_TOKENS
        )["input_ids"]
        out.append(f"{row['title']}\n{tokenizer.decode(ids)}")
    return out


def queries(count: int) -> list[str]:
    with (DATASET / "queries.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for _, line in zip(range(count), handle, strict=False)]


async def measure(path: Path, depth: int, n_queries: int, batch_sizes: list[int]) -> dict[str, Any]:
    """Per batch size: rerank latency, each call followed by embedding the same passages.

    The interleaved embedding (MiniLM, no cache) is a yardstick taken under the same load: on a
    busy machine the ratio means more than the milliseconds.
    """
    from ragplatform.adapters.embedders.sentence_transformers import LocalEmbedder
    from ragplatform.adapters.rerankers.cross_encoder import CrossEncoderReranker
    from ragplatform.answer_settings import RerankSettings
    from ragplatform.settings import EmbeddingSettings

    base = RerankSettings(provider="local", model_path=path, depth=depth)
    started = time.perf_counter()
    loaded = await CrossEncoderReranker.load(base)
    load_s = time.perf_counter() - started
    embedder = await LocalEmbedder.load(EmbeddingSettings(runtime="torch", cache_size=0))
    model = loaded._model
    texts = passages(model.tokenizer, depth * 4)
    asks = queries(n_queries)
    results: dict[str, Any] = {"load_s": load_s, "depth": depth, "queries": n_queries}
    for batch_size in batch_sizes:
        settings = base.model_copy(update={"batch_size": batch_size})
        reranker = CrossEncoderReranker(model=model, settings=settings)
        await reranker.rerank(asks[0], texts[:depth])  # warm-up
        await embedder.embed_documents(texts[:depth], cached=False)
        times, embeds = [], []
        for i, query in enumerate(asks):
            window = texts[(i * 7) % (len(texts) - depth) :][:depth]
            started = time.perf_counter()
            await reranker.rerank(query, window)
            times.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await embedder.embed_documents(window, cached=False)
            embeds.append((time.perf_counter() - started) * 1000)
        results[f"batch_{batch_size}"] = {
            "p50_ms": statistics.median(times),
            "p95_ms": percentile(times, 95),
            "mean_ms": statistics.fmean(times),
            "pairs_per_s": depth / (statistics.fmean(times) / 1000),
            "embed_same_p50_ms": statistics.median(embeds),
            "ratio_to_embed_p50": statistics.median(
                r / e for r, e in zip(times, embeds, strict=True)
            ),
        }
    await embedder.close()
    await loaded.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-path", type=Path, default=None)
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--batch-sizes", default="32")
    parser.add_argument("--no-record", action="store_true", help="print, do not append")
    args = parser.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="rerank-bench-") as tmp:
        path = args.model_path or build_from_minilm(Path(tmp) / "cross-encoder")
        data = asyncio.run(measure(path, args.depth, args.queries, sizes))
    source = str(args.model_path) if args.model_path else "MiniLM-L6 with an untrained head"
    lines = [
        f"Model: {source}; depth {args.depth}; {args.queries} SciFact queries",
        f"Load average (1 min) before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f}",
    ]
    for size in sizes:
        row = data[f"batch_{size}"]
        lines.append(
            f"batch_size {size}: p50 **{row['p50_ms']:.0f} ms**, p95 {row['p95_ms']:.0f} ms "
            f"({row['pairs_per_s']:.1f} pairs/s); embedding the same passages, interleaved: "
            f"p50 {row['embed_same_p50_ms']:.0f} ms, rerank / embed **"
            f"{row['ratio_to_embed_p50']:.2f}**"
        )
    command = "python -m benchmarks.rerank_bench " + " ".join(
        f"--{k.replace('_', '-')} {v}"
        for k, v in (
            ("depth", args.depth),
            ("queries", args.queries),
            ("batch_sizes", args.batch_sizes),
        )
    )
    if args.no_record:
        print(json.dumps(data, indent=2))
    else:
        record("Re-ranking stage latency (CPU)", command, lines, data)


if __name__ == "__main__":
    main()
