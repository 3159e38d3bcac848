"""Label embeddings: one vector per label from its examples (and, optionally, its description)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from redline.errors import InputDataError

FloatArray = NDArray[np.floating]


def label_embeddings(
    X: FloatArray,
    y: Sequence[str],
    labels: Sequence[str],
    description_embeddings: Mapping[str, FloatArray] | None = None,
    description_weight: float = 0.0,
) -> FloatArray:
    """Embed labels as the normalised mean of their normalised example embeddings.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Example embeddings (normalised here again, so any scale works).
    y : sequence of str
        The label of each row of ``X``.
    labels : sequence of str
        Labels to embed, in output order; each needs at least one example.
    description_embeddings : mapping, optional
        Embedding of each label's description.
    description_weight : float
        Blend weight of the description embedding (0 = examples only, 1 = description only).

    Returns
    -------
    ndarray of shape (len(labels), d), rows L2-normalised.
    """
    if not 0.0 <= description_weight <= 1.0:
        raise InputDataError(f"description_weight must lie in [0, 1], got {description_weight}")
    X64 = np.asarray(X, dtype=np.float64)
    if X64.ndim != 2 or X64.shape[0] == 0 or not labels:
        raise InputDataError(
            f"label embeddings need examples (a 2-D array, got shape {X64.shape}) and labels to embed"
        )
    if not np.isfinite(X64).all():
        raise InputDataError("embeddings contain NaN or infinity")
    Xn = unit_rows(X64)
    y_arr = np.asarray(y)
    index = {lab: i for i, lab in enumerate(labels)}
    codes = np.array([index.get(lab, -1) for lab in y_arr.tolist()], dtype=np.int64)
    keep = codes >= 0
    sums = np.zeros((len(labels), Xn.shape[1]))
    np.add.at(sums, codes[keep], Xn[keep])
    counts = np.bincount(codes[keep], minlength=len(labels))
    missing = [labels[int(i)] for i in np.flatnonzero(counts == 0)]
    if missing:
        raise InputDataError(f"labels without examples: {', '.join(map(str, missing[:5]))}")
    E: FloatArray = unit_rows(sums / counts[:, None])
    if description_embeddings and description_weight > 0.0:
        for i, lab in enumerate(labels):
            if lab in description_embeddings:
                d = np.asarray(description_embeddings[lab], dtype=np.float64)[None, :]
                if not np.isfinite(d).all():
                    raise InputDataError(f"the description embedding of {lab!r} contains NaN or infinity")
                d = unit_rows(d)[0]
                E[i] = (1.0 - description_weight) * E[i] + description_weight * d
        E = unit_rows(E)
    return E


def unit_rows(M: FloatArray) -> FloatArray:
    """Rows of ``M`` scaled to unit L2 norm; a (near) zero row stays as it is.

    scikit-learn's ``normalize`` (same rule for zero rows), without its import: 2 s of a worker's start
    with the simulated expert, which embeds the labels.
    """
    norms = np.sqrt(np.einsum("ij,ij->i", M, M))
    norms[norms < 10 * np.finfo(norms.dtype).eps] = 1.0
    out: FloatArray = M / norms[:, None]
    return out
