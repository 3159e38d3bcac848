"""Uncertainty measures: how unsure the model is of each prediction (0 = certain, 1 = a tie)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from redline.errors import ConfigError

FloatArray = NDArray[np.floating]


def normalised_entropy(proba: FloatArray) -> FloatArray:
    """Entropy of each row divided by log(K): 0 = certain, 1 = uniform."""
    P = np.asarray(proba, dtype=np.float64)
    K = P.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        H = -np.where(P > 0, P * np.log(P), 0.0).sum(axis=1)
    return np.asarray(H / np.log(max(K, 2)))


def margin_uncertainty(proba: FloatArray) -> FloatArray:
    """1 - (p_top1 - p_top2): 0 = one clear winner, 1 = a tie."""
    P = np.asarray(proba, dtype=np.float64)
    if P.shape[1] < 2:
        return np.zeros(P.shape[0])
    top2 = -np.partition(-P, 1, axis=1)[:, :2]
    return np.asarray(1.0 - (top2[:, 0] - top2[:, 1]))


def uncertainty(proba: FloatArray, kind: str) -> FloatArray:
    """Dispatch to :func:`normalised_entropy` (``"entropy"``) or :func:`margin_uncertainty` (``"margin"``)."""
    if kind == "entropy":
        return normalised_entropy(proba)
    if kind == "margin":
        return margin_uncertainty(proba)
    raise ConfigError(f"unknown uncertainty {kind!r}")
