"""Synthetic embedding data for core tests: K well-separated-ish class centres on the unit sphere."""

from __future__ import annotations

import numpy as np

from redline.core.evaluation import LabelledSet


def make_set(
    n_classes: int, per_class: int, dim: int = 32, spread: float = 1.2, seed: int = 0
) -> LabelledSet:
    """Normalised points around random unit centres; texts name their index (not their label)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = np.repeat(np.arange(n_classes), per_class)
    X = centres[y] + spread * rng.normal(size=(y.size, dim)) / np.sqrt(dim)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    labels = tuple(f"label_{i:03d}" for i in y.tolist())
    texts = tuple(f"text number {i}" for i in range(y.size))
    return LabelledSet(texts, labels, X.astype(np.float32))


def split(data: LabelledSet, n_seed: int, n_test: int, seed: int = 0) -> tuple[LabelledSet, ...]:
    """Per class: ``n_seed`` seed rows, ``n_test`` test rows, the rest pool."""
    rng = np.random.default_rng(seed)
    y = np.asarray(data.labels)
    seed_idx, test_idx, pool_idx = [], [], []
    for lab in sorted(set(data.labels)):
        idx = rng.permutation(np.flatnonzero(y == lab))
        seed_idx += idx[:n_seed].tolist()
        test_idx += idx[n_seed : n_seed + n_test].tolist()
        pool_idx += idx[n_seed + n_test :].tolist()
    return data.subset(seed_idx), data.subset(pool_idx), data.subset(test_idx)
