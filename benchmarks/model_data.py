"""Data and fitted models shared by the model-state benchmarks (bench_model_codec, bench_learning).

Real data: CLINC150 and BANKING77 with MiniLM embeddings (``engine_data``), 30 labelled per class as
the seed and the rest of the train split as the pool. Synthetic data: the normalised embeddings of
``bench_structure.synthetic`` plus generated texts (class topic words among Zipf-distributed common
words from a pseudo-word lexicon), so that the word and char n-gram vocabularies fill their 10,000-term
caps as real texts do; a model's size depends on its vocabularies. Fitted models are cached as model
folders in ``REDLINE_BENCH_MODELS`` (default ``/tmp/redline-bench-models``).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import engine_data
from bench_structure import synthetic

from redline.adapters.model_files import read_model_folder, write_model_folder
from redline.core.classifier import RedClassifier
from redline.core.config import EngineConfig
from redline.core.evaluation import LabelledSet
from redline.core.features import FeatureBuilder
from redline.core.flat_update import FlatUpdateSettings, update_flat
from redline.core.training_set import TrainingSet
from redline.errors import ModelError

MODELS = Path(os.environ.get("REDLINE_BENCH_MODELS", "/tmp/redline-bench-models"))
N_SEED = 30


def lexicon(n_words: int = 20000, seed: int = 3) -> list[str]:
    """Distinct pronounceable pseudo-words."""
    rng = np.random.default_rng(seed)
    cons, vows = list("bcdfghjklmnprstvwz"), list("aeiou")
    words: set[str] = set()
    while len(words) < n_words:
        n = int(rng.integers(2, 5))
        words.add("".join(str(rng.choice(cons)) + str(rng.choice(vows)) for _ in range(n)))
    return sorted(words)


def synthetic_texts(y_codes: np.ndarray, n_classes: int, seed: int, noise_seed: int) -> list[str]:
    """One text per row: 6-12 tokens, each a topic word of the row's class (p=0.35, 8 per class) or a
    Zipf-distributed common word."""
    words = np.asarray(lexicon())
    topics = np.random.default_rng(seed).choice(words.size, size=(n_classes, 8))
    rng = np.random.default_rng(noise_seed)
    by_rank = rng.permutation(words.size)  # common words of every shape, not alphabetical
    zipf = np.cumsum(1.0 / np.arange(1, words.size + 1))
    lengths = rng.integers(6, 13, size=y_codes.size)
    row = np.repeat(np.arange(y_codes.size), lengths)
    common = by_rank[np.minimum(np.searchsorted(zipf, rng.random(row.size) * zipf[-1]), words.size - 1)]
    topical = topics[y_codes[row], rng.integers(0, 8, size=row.size)]
    tokens = words[np.where(rng.random(row.size) < 0.35, topical, common)]
    bounds = np.cumsum(lengths)[:-1]
    return [" ".join(t) for t in np.split(tokens.tolist(), bounds)]


def synthetic_set(n_classes: int, per_class: int, noise_seed: int = 100) -> LabelledSet:
    """``per_class`` examples of each of ``n_classes`` synthetic classes (same classes for every
    ``noise_seed``; another noise seed gives fresh examples, e.g. a test set)."""
    X, y = synthetic(n_classes, per_class, noise_seed=noise_seed)
    codes = np.repeat(np.arange(n_classes), per_class)
    return LabelledSet(tuple(synthetic_texts(codes, n_classes, 0, noise_seed)), tuple(y), X)


def real_sets(name: str) -> tuple[LabelledSet, LabelledSet, LabelledSet]:
    """(seed, pool, test) of a real data set."""
    train, test = engine_data.load(name)
    seed, pool = engine_data.split_seed_pool(train, N_SEED, 0)
    return seed, pool, test


def joined(a: LabelledSet, b: LabelledSet) -> LabelledSet:
    """The rows of ``a`` then those of ``b``."""
    return LabelledSet(a.texts + b.texts, a.labels + b.labels, np.vstack([a.X, b.X]))


def _cached(folder: Path) -> tuple[RedClassifier, float] | None:
    """A model cached in ``folder`` and the seconds its fit took, or None when there is none."""
    try:
        loaded = read_model_folder(folder)
    except ModelError:
        return None
    return loaded.model, float(loaded.metadata["fit_s"])


def fitted(key: str, data: LabelledSet, config: EngineConfig | None = None) -> tuple[RedClassifier, float]:
    """The model fitted on ``data`` (cached under ``key``) and the seconds its fit took (cached too)."""
    folder = MODELS / key
    cached = _cached(folder)
    if cached is not None:
        return cached
    start = time.perf_counter()
    model = RedClassifier(config or EngineConfig()).fit(data.X, data.texts, data.labels)
    fit_s = time.perf_counter() - start
    write_model_folder(folder, model, {"fit_s": fit_s, "rows": len(data)})
    return model, fit_s


def fitted_same_objective(key: str, data: LabelledSet, iters: int) -> tuple[RedClassifier, float]:
    """A default flat model fitted on ``data`` by ``iters`` L-BFGS steps from zero on the objective of
    scikit-learn's fit (``C * sum CE + ||W||^2 / 2``, intercept free) with the dense/sparse split of
    :mod:`redline.core.flat_update` (cached under ``key``). For 1000 classes, where scikit-learn's
    lbfgs costs about a minute per iteration on a 2-core machine."""
    folder = MODELS / key
    cached = _cached(folder)
    if cached is not None:
        return cached
    start = time.perf_counter()
    cfg = EngineConfig()
    features = FeatureBuilder(cfg.features, cfg.ngram_weight).fit(data.texts)
    F = features.transform(data.X, data.texts)
    classes = np.asarray(sorted(set(data.labels)))
    codes = np.searchsorted(classes, np.asarray(data.labels)).astype(np.int64)
    coef, intercept, _ = update_flat(
        F,
        codes,
        np.arange(len(data), dtype=np.int64),
        np.zeros((classes.size, F.shape[1]), dtype=np.float32),
        np.zeros(classes.size),
        C=cfg.C,
        seed=0,
        settings=FlatUpdateSettings(competitors=classes.size, max_iter=iters, columns="sample"),
    )
    params = {
        "format": "redline.RedClassifier.params/1",
        "config": cfg.to_dict(),
        "classes": classes.tolist(),
        "descriptions": {},
        "n_train": len(data),
        "embedding_dim": data.X.shape[1],
        "features": features.to_state(),
        "flat": {"coef": coef, "intercept": intercept},
    }
    model = RedClassifier.from_params(params, TrainingSet(data.X, data.texts, np.asarray(data.labels)))
    fit_s = time.perf_counter() - start
    write_model_folder(folder, model, {"fit_s": fit_s, "rows": len(data), "fit": f"{iters} L-BFGS steps"})
    return model, fit_s


def machine() -> dict[str, Any]:
    """Load and size of this machine while a benchmark runs (timings depend on it)."""
    return {"loadavg": list(os.getloadavg()), "cpus": os.cpu_count()}
