"""The labelled examples a classifier learned from, in the order it learned them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from redline.errors import InputDataError

FloatArray = NDArray[np.floating]


def validate_examples(
    X: FloatArray, texts: Sequence[str], y: Sequence[str]
) -> tuple[NDArray[np.float32], list[str], NDArray[np.str_]]:
    """Check and normalise examples: a finite 2-D float32 array, texts and labels as str, equal lengths.

    Raises
    ------
    InputDataError
        One line naming what is wrong.
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise InputDataError(f"embeddings must be a 2-D array, got shape {X.shape}")
    texts = [str(t) for t in texts]
    y_arr = np.asarray([str(v) for v in y])
    if not (X.shape[0] == len(texts) == y_arr.size):
        raise InputDataError(f"{X.shape[0]} embeddings, {len(texts)} texts and {y_arr.size} labels differ")
    if X.shape[0] == 0:
        raise InputDataError("no examples")
    if not np.isfinite(X).all():
        raise InputDataError("embeddings contain NaN or infinity")
    return X, texts, y_arr


def _read_only(a: NDArray[np.generic]) -> NDArray[np.generic]:
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class TrainingSet:
    """Training examples, rows in learned order. The arrays are read-only: a changed set is a new one,
    so models copied from one another can share it.

    Parameters
    ----------
    X : ndarray (n, dim)
        Normalised text embeddings (stored as float32).
    texts : sequence of str
        The texts.
    y : sequence of str
        Their labels.
    """

    X: NDArray[np.float32]
    texts: tuple[str, ...]
    y: NDArray[np.str_]

    def __post_init__(self) -> None:
        X = np.asarray(self.X, dtype=np.float32)
        y = np.asarray(self.y)
        if y.dtype.kind != "U":
            y = np.asarray([str(v) for v in y.tolist()], dtype=str) if y.size else np.zeros(0, dtype="<U1")
        if X.ndim != 2:
            raise InputDataError(f"embeddings must be a 2-D array, got shape {X.shape}")
        if not (X.shape[0] == len(self.texts) == y.size):
            raise InputDataError(
                f"{X.shape[0]} embeddings, {len(self.texts)} texts and {y.size} labels differ"
            )
        # copies: the caller keeps its (writable) arrays, this set never sees them change
        object.__setattr__(self, "X", _read_only(np.array(X, copy=True)))
        object.__setattr__(self, "texts", tuple(str(t) for t in self.texts))
        object.__setattr__(self, "y", _read_only(np.array(y, copy=True)))

    @classmethod
    def _adopt(cls, X: NDArray[np.float32], texts: tuple[str, ...], y: NDArray[np.str_]) -> TrainingSet:
        """A set over fresh arrays nobody else holds (no checks, no copies)."""
        out = object.__new__(cls)
        object.__setattr__(out, "X", _read_only(X))
        object.__setattr__(out, "texts", texts)
        object.__setattr__(out, "y", _read_only(y))
        return out

    @classmethod
    def empty(cls, dim: int) -> TrainingSet:
        """No examples, embeddings of width ``dim``."""
        return cls(np.zeros((0, dim), dtype=np.float32), (), np.zeros(0, dtype="<U1"))

    def __len__(self) -> int:
        return len(self.texts)

    def appended(self, X: FloatArray, texts: Sequence[str], y: NDArray[np.str_]) -> TrainingSet:
        """This set followed by the given rows."""
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y).astype(str)
        if X.ndim != 2 or X.shape[1] != self.X.shape[1]:
            raise InputDataError(f"embeddings of shape {X.shape}, expected (n, {self.X.shape[1]})")
        if not (X.shape[0] == len(texts) == y.size):
            raise InputDataError(f"{X.shape[0]} embeddings, {len(texts)} texts and {y.size} labels differ")
        return TrainingSet._adopt(
            np.vstack([self.X, X]), (*self.texts, *(str(t) for t in texts)), np.concatenate([self.y, y])
        )

    def select(self, rows: NDArray[np.integer] | NDArray[np.bool_]) -> TrainingSet:
        """The given rows (indices or a mask), in their order."""
        idx = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows, dtype=np.int64)
        return TrainingSet._adopt(self.X[idx], tuple(self.texts[i] for i in idx.tolist()), self.y[idx])
