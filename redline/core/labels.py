"""Label embeddings: one vector per label from its examples (and, optionally, its description)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from redline.errors import InputDataError

FloatArray = NDArray[np.floating]


def _normalise(M: FloatArray) -> FloatArray:
    norms = np.linalg.norm(M, axis=-1, keepdims=True)
    return M / np.where(norms == 0.0, 1.0, norms)


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
    Xn = _normalise(np.asarray(X, dtype=np.float64))
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
    E = _normalise(sums / counts[:, None])
    if description_embeddings and description_weight > 0.0:
        for i, lab in enumerate(labels):
            if lab in description_embeddings:
                d = _normalise(np.asarray(description_embeddings[lab], dtype=np.float64)[None, :])[0]
                E[i] = (1.0 - description_weight) * E[i] + description_weight * d
        E = _normalise(E)
    return E
