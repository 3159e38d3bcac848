"""Speed of the n-gram TF-IDF features: ``NgramTfidf.transform`` against the same transform one n-gram
at a time (what it did before a text's char_wb columns were looked up by word) and scikit-learn's
``TfidfVectorizer.transform`` (``python benchmarks/bench_ngram_features.py``).

Two workloads per dataset (CLINC150, BANKING77; vocabularies fitted on a seed-sized sample of the
training texts, as a model's are): building the features of 30,000 training rows at once (what a leader's
first learning step does at 1000 labels) and transforming the test texts in batches of 32 (the classify
path). Every variant must give the same matrix; the run stops if one does not. Times are the best of
``--repeats`` runs, all in this one process, so their ratios are what to read; the load average is
recorded. Prints JSON and writes ``benchmarks/results/ngram_features.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from redline.adapters.bundled_datasets import load_dataset
from redline.core.features import NGRAM_BLOCKS
from redline.core.ngram_tfidf import NgramTfidf

RESULTS = Path(__file__).resolve().parent / "results"
ROWS = 30_000
BATCH = 32


class PerNgramTfidf(NgramTfidf):
    """The same transform, every char_wb n-gram of a text looked up on its own (no per-word memory)."""

    def _char_wb_columns(self, text: str) -> list[int]:
        return self._gram_columns(text)


def _best(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def _in_batches(transform: Callable[[Sequence[str]], Any], texts: Sequence[str]) -> Any:
    return sparse.vstack([transform(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)], format="csr")


def _same(a: Any, b: Any, what: str) -> None:
    a, b = sparse.csr_matrix(a), sparse.csr_matrix(b)
    a.sort_indices()
    b.sort_indices()
    if a.shape != b.shape or (abs(a - b) > 1e-12).nnz:
        raise SystemExit(f"{what}: the variants disagree")


def measure(name: str, repeats: int) -> dict[str, Any]:
    """Seconds and texts/s of each variant on one dataset, per n-gram block."""
    splits = load_dataset(name).splits
    train = [e.text for e in splits["train"]]
    seed = train[::7]
    rows = (train * (ROWS // len(train) + 1))[:ROWS]
    test = [e.text for e in splits["test"]]
    out: dict[str, Any] = {}
    for analyzer, ngram_range in NGRAM_BLOCKS:
        fitted = TfidfVectorizer(sublinear_tf=True, analyzer=analyzer, ngram_range=ngram_range,
                                 max_features=10_000).fit(seed)  # fmt: skip
        variants: dict[str, Callable[[Sequence[str]], Any]] = {
            "redline": NgramTfidf.from_vectorizer(fitted).transform,
            "per_ngram": PerNgramTfidf.from_vectorizer(fitted).transform,
            "scikit_learn": fitted.transform,
        }
        block: dict[str, Any] = {}
        for workload, texts, run in (
            (f"training_rows_{ROWS}", rows, lambda f, t: f(t)),
            (f"test_batches_of_{BATCH}", test, _in_batches),
        ):
            times: dict[str, float] = {}
            reference = None
            for variant, transform in variants.items():
                seconds, X = _best(partial(run, transform, texts), repeats)
                times[variant] = seconds
                if reference is None:
                    reference = X
                else:
                    _same(reference, X, f"{name} {analyzer} {workload} {variant}")
            block[workload] = {
                "texts": len(texts),
                "seconds": {k: round(v, 4) for k, v in times.items()},
                "texts_per_s": {k: round(len(texts) / v) for k, v in times.items()},
                "speed_up_over_per_ngram": round(times["per_ngram"] / times["redline"], 2),
                "speed_up_over_scikit_learn": round(times["scikit_learn"] / times["redline"], 2),
            }
        out[f"{analyzer}{list(ngram_range)}"] = block
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per variant (the best counts)")
    parser.add_argument("--datasets", default="clinc150,banking77")
    parser.add_argument("--out", default=str(RESULTS / "ngram_features.json"))
    args = parser.parse_args(argv)
    summary: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_before": list(os.getloadavg()),
        },
        "repeats": args.repeats,
    }
    for name in args.datasets.split(","):
        summary[name] = measure(name, args.repeats)
    summary["machine"]["loadavg_after"] = list(os.getloadavg())
    text = json.dumps(summary, indent=1)
    Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
