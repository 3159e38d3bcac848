"""Embedding throughput: the MiniLM embedder alone, and through the on-disk cache (cold and warm).

Also times the same texts with one torch thread, since on a busy machine oversubscribed cores are slower.
Prints one JSON object and writes it to ``benchmarks/results/embedding.json``. Timings are measured in
one run on this machine; the load average at the start says how busy the machine was.

Usage: ``python benchmarks/bench_embedding.py [--n 2000] [--dataset clinc150] [--batch-size 64]``
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from redline.adapters.bundled_datasets import load_dataset
from redline.adapters.embedder import CachedEmbedder, SentenceTransformerEmbedder

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="texts to embed")
    parser.add_argument("--dataset", default="clinc150", choices=("clinc150", "banking77"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", type=Path, default=RESULTS / "embedding.json")
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    texts = [e.text for e in load_dataset(args.dataset).splits["train"]]
    rng = np.random.default_rng(0)
    texts = [texts[i] for i in sorted(rng.choice(len(texts), size=min(args.n, len(texts)), replace=False))]
    load_before = os.getloadavg()

    model = SentenceTransformerEmbedder(batch_size=args.batch_size)
    t0 = time.perf_counter()
    model.encode(["warm up"])
    load_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    direct = model.encode(texts)
    direct_s = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as cache_dir:
        cached = CachedEmbedder(model, cache_dir)
        t0 = time.perf_counter()
        cold = cached.encode(texts)
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        warm = CachedEmbedder(model, cache_dir).encode(texts)
        warm_s = time.perf_counter() - t0
        cache_bytes = sum(p.stat().st_size for p in Path(cache_dir).iterdir())

    # torch threads: the default (one per core) against one thread, same texts, same process
    import torch

    default_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    one_thread = model.encode(texts)
    one_thread_s = time.perf_counter() - t0
    torch.set_num_threads(default_threads)

    assert np.array_equal(warm, cold), "a cache hit must return the stored vectors"
    result = {
        "benchmark": "embedding",
        "dataset": args.dataset,
        "texts": len(texts),
        "batch_size": args.batch_size,
        "model": model.model_id,
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load_before],
        "model_load_seconds": round(load_seconds, 2),
        "torch_threads_default": default_threads,
        "direct_texts_per_s": round(len(texts) / direct_s, 1),
        "direct_1_thread_texts_per_s": round(len(texts) / one_thread_s, 1),
        "max_abs_diff_1_thread": float(np.abs(one_thread - direct).max()),
        "cache_cold_texts_per_s": round(len(texts) / cold_s, 1),
        "cache_warm_texts_per_s": round(len(texts) / warm_s, 1),
        "warm_speedup_vs_direct": round(direct_s / warm_s, 1),
        "cold_overhead_vs_direct": round(cold_s / direct_s - 1.0, 3),
        "max_abs_diff_cached_vs_direct": float(np.abs(cold - direct).max()),
        "cache_bytes_per_text": round(cache_bytes / len(texts), 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
