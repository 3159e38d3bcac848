"""Adding one class to a fitted flat softmax without refitting the classes it already has."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from redline.core.subsets import noise_indices

FloatArray = NDArray[np.floating]


def fit_new_class_row(
    F: Any,
    y: NDArray[np.str_],
    label: str,
    coef: FloatArray,
    intercept: FloatArray,
    *,
    C: float,
    max_iter: int,
    seed: int,
    per_label: int,
) -> tuple[FloatArray, float]:
    """Fit the weights and intercept of a new class ``label`` of a flat softmax, the old rows frozen.

    With old logits Z fixed, the new class's logit s = F w + c enters the softmax loss only through
    log(exp(M) + exp(s)), M = logsumexp(Z): a binary logistic regression with offset -M, solved with
    L-BFGS under the same penalty as the full fit (C * loss + ||w||^2 / 2). The old classes are
    represented by up to ``per_label`` rows each, weighted up to their full count, so the objective
    matches the full-data one in expectation at a fraction of the cost.

    Parameters
    ----------
    F : ndarray or sparse matrix (n, d)
        Features of every training row, the new class's rows included.
    y : ndarray of str (n,)
        Labels of the rows of ``F``.
    label : str
        The new class.
    coef, intercept : ndarray (k, d), (k,)
        The fitted softmax of the old classes.
    C, max_iter : float, int
        Penalty and iteration cap, as in the full fit.
    seed : int
        Seeds the choice of old rows (with ``len(y)``).
    per_label : int
        Old rows kept per old class.

    Returns
    -------
    (ndarray (d,), float)
        The new row of ``coef`` and the new intercept.
    """
    # deferred: scipy.optimize takes about 0.3 s to import; only adding a class at run time needs it
    from scipy.optimize import minimize

    rng = np.random.default_rng((seed, len(y)))
    new_rows = np.flatnonzero(y == label)
    old = noise_indices(y, [label], "stratified", rng, per_label=per_label)
    labels_old, counts_all = np.unique(y, return_counts=True)
    _, counts_kept = np.unique(y[old], return_counts=True)
    full = dict(zip(labels_old.tolist(), counts_all.tolist(), strict=True))
    kept = dict(zip(np.unique(y[old]).tolist(), counts_kept.tolist(), strict=True))
    rows = np.concatenate([new_rows, old])
    weight = np.concatenate([np.ones(new_rows.size), np.array([full[v] / kept[v] for v in y[old].tolist()])])
    F_rows = F[rows]
    Z = np.asarray(F_rows @ coef.T, dtype=np.float64) + intercept
    zmax = Z.max(axis=1)
    M = zmax + np.log(np.exp(Z - zmax[:, None]).sum(axis=1))
    t = np.concatenate([np.ones(new_rows.size), np.zeros(old.size)])
    dim = F_rows.shape[1]

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        w, c = theta[:dim], theta[dim]
        u = np.asarray(F_rows @ w).ravel() + c - M
        loss = float(C * np.sum(weight * (np.logaddexp(0.0, u) - t * u)) + 0.5 * w @ w)
        g = C * weight * (1.0 / (1.0 + np.exp(-u)) - t)
        grad = np.concatenate([np.asarray(F_rows.T @ g).ravel() + w, [g.sum()]])
        return loss, grad

    theta0 = np.zeros(dim + 1)
    theta0[dim] = float(np.median(M))
    res = minimize(objective, theta0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    return np.asarray(res.x[:dim]), float(res.x[dim])
