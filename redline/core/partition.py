"""Partition the label space into subsets of mutually dissimilar labels (R.E.D. step 1).

Label embeddings are reduced with UMAP (cosine metric); each subset starts from the first unvisited
label (in a seeded order) and repeatedly takes the unvisited label least similar (cosine) to the
subset's mean, up to ``max_subset_size``. With too few labels for UMAP the partition uses plain cosine
on the embeddings and records why in ``notes_``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from redline.core.labels import unit_rows
from redline.errors import ConfigError, InputDataError

FloatArray = NDArray[np.floating]

#: UMAP needs a neighbourhood graph; below this many labels the partition falls back to cosine.
MIN_LABELS_FOR_UMAP = 20


def warm_up_umap() -> float:
    """Run UMAP once on a tiny input so that its numba kernels are compiled (numba keeps them for the
    process); return the seconds it took (long the first time, short once compiled). Benchmarks call it
    to keep compilation out of their timings; results do not depend on it."""
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    _reduce_umap(rng.normal(size=(60, 16)), n_components=4, seed=0)
    return time.perf_counter() - start


def _reduce_umap(E: FloatArray, n_components: int, seed: int) -> FloatArray:
    import umap  # heavy import (numba): only when a partition is actually computed

    n = E.shape[0]
    En = unit_rows(np.asarray(E, dtype=np.float64))
    # cosine distances computed here in one matrix product: umap's own "cosine" calls a Python
    # function per pair on small inputs (80 % of its time at 1000 labels)
    D = np.clip(1.0 - En @ En.T, 0.0, 2.0)
    np.fill_diagonal(D, 0.0)
    reducer = umap.UMAP(
        n_components=min(n_components, n - 2),
        n_neighbors=min(15, n - 1),
        metric="precomputed",
        random_state=seed,
        n_jobs=1,
        init="spectral",
        n_epochs=50,  # spectral init + 50 epochs: enough structure for the greedy step, 4x faster
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "using precomputed metric; inverse_transform will be unavailable"
        return np.asarray(reducer.fit_transform(D), dtype=np.float64)


def greedy_subsets(Z: FloatArray, max_subset_size: int, order: Sequence[int]) -> list[list[int]]:
    """Form subsets greedily: start from the first unvisited index in ``order``, then repeatedly add the
    unvisited row least similar (cosine) to the subset's mean. Returns lists of row indices."""
    Zn = unit_rows(np.asarray(Z, dtype=np.float64))
    n = Zn.shape[0]
    G = Zn @ Zn.T  # cosine of every pair, once: each greedy step is then O(n)
    blocked = np.zeros(n)  # +inf once visited
    subsets: list[list[int]] = []
    for start in order:
        if blocked[start]:
            continue
        blocked[start] = np.inf
        members = [int(start)]
        sim_to_sum = G[start].copy()  # similarity to the subset's sum (same argmin as to its mean)
        while len(members) < max_subset_size:
            pick = int(np.argmin(sim_to_sum + blocked))
            if blocked[pick]:
                break  # every label is placed
            blocked[pick] = np.inf
            members.append(pick)
            sim_to_sum += G[pick]
        subsets.append(members)
    return subsets


class LabelPartition:
    """Subsets of at most ``max_subset_size`` mutually dissimilar labels.

    Parameters
    ----------
    max_subset_size : int
        Most labels per subset.
    reducer : {"umap", "cosine"}
        Space for the greedy step: UMAP reduction of the label embeddings, or the embeddings themselves.
    n_components : int
        UMAP dimensions.
    seed : int
        Seeds UMAP and the order in which subsets are started.

    Attributes
    ----------
    labels_ : list of str
    subsets_ : list of list of str
    reducer_used_ : str
        ``"umap"`` or ``"cosine"`` (the latter also when UMAP was asked for but there were too few labels).
    notes_ : list of str
        Human-readable remarks (e.g. the fallback and why).
    """

    def __init__(
        self, max_subset_size: int = 8, reducer: str = "umap", n_components: int = 10, seed: int = 0
    ) -> None:
        self.max_subset_size = max_subset_size
        self.reducer = reducer
        self.n_components = n_components
        self.seed = seed

    def fit(self, label_embeddings: FloatArray, labels: Sequence[str]) -> LabelPartition:
        """Partition ``labels`` whose embeddings are the rows of ``label_embeddings``."""
        if self.max_subset_size < 1:
            raise ConfigError(f"max_subset_size must be >= 1, got {self.max_subset_size}")
        if self.reducer not in ("umap", "cosine"):
            raise ConfigError(f"reducer must be 'umap' or 'cosine', got {self.reducer!r}")
        E = np.asarray(label_embeddings, dtype=np.float64)
        if E.ndim != 2 or E.shape[0] != len(labels):
            raise InputDataError(f"label_embeddings has shape {E.shape}, expected ({len(labels)}, d)")
        if len(set(labels)) != len(labels):
            raise InputDataError("labels must be unique")
        if len(labels) == 0:
            raise InputDataError("cannot partition an empty label set")
        self.labels_ = [str(lab) for lab in labels]
        self.notes_: list[str] = []
        if self.reducer == "umap" and len(labels) >= MIN_LABELS_FOR_UMAP:
            Z = _reduce_umap(E, self.n_components, self.seed)
            self.reducer_used_ = "umap"
        else:
            if self.reducer == "umap":
                self.notes_.append(
                    f"{len(labels)} labels are too few for UMAP (need {MIN_LABELS_FOR_UMAP}); "
                    "partitioned by cosine similarity of the label embeddings"
                )
            Z = E
            self.reducer_used_ = "cosine"
        order = np.random.default_rng(self.seed).permutation(len(labels))
        groups = greedy_subsets(Z, self.max_subset_size, order.tolist())
        self.subsets_ = [[self.labels_[i] for i in g] for g in groups]
        self._index = {lab: s for s, members in enumerate(self.subsets_) for lab in members}
        En = unit_rows(E)
        self._embeddings = {lab: En[i] for i, lab in enumerate(self.labels_)}
        return self

    def subset_of(self, label: str) -> int:
        """Index of the subset holding ``label``."""
        try:
            return self._index[label]
        except KeyError:
            raise InputDataError(f"unknown label {label!r}") from None

    def add_label(self, label: str, embedding: FloatArray) -> int:
        """Place a new label: into the subset with room whose mean (cosine, in embedding space) it is least
        similar to, else a new subset. Returns the subset's index."""
        if label in self._index:
            raise InputDataError(f"label {label!r} already exists")
        e = unit_rows(np.asarray(embedding, dtype=np.float64)[None, :])[0]
        room = [s for s, members in enumerate(self.subsets_) if len(members) < self.max_subset_size]
        if room:
            means = np.stack([np.mean([self._embeddings[m] for m in self.subsets_[s]], axis=0) for s in room])
            target = room[int(np.argmin(unit_rows(means) @ e))]
            self.subsets_[target].append(label)
        else:
            target = len(self.subsets_)
            self.subsets_.append([label])
        self.labels_.append(label)
        self._index[label] = target
        self._embeddings[label] = e
        return target

    def to_state(self) -> dict[str, Any]:
        """Snapshot: settings, subsets and label embeddings."""
        return {
            "max_subset_size": self.max_subset_size,
            "reducer": self.reducer,
            "n_components": self.n_components,
            "seed": self.seed,
            "subsets": [list(s) for s in self.subsets_],
            "reducer_used": self.reducer_used_,
            "notes": list(self.notes_),
            "labels": list(self.labels_),
            "embeddings": np.stack([self._embeddings[lab] for lab in self.labels_]),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LabelPartition:
        """Rebuild from :meth:`to_state` without recomputing."""
        part = cls(state["max_subset_size"], state["reducer"], state["n_components"], state["seed"])
        part.labels_ = [str(x) for x in state["labels"]]
        part.subsets_ = [[str(x) for x in s] for s in state["subsets"]]
        part.reducer_used_ = str(state["reducer_used"])
        part.notes_ = [str(x) for x in state["notes"]]
        part._index = {lab: s for s, members in enumerate(part.subsets_) for lab in members}
        E = np.asarray(state["embeddings"], dtype=np.float64)
        part._embeddings = {lab: E[i] for i, lab in enumerate(part.labels_)}
        return part
