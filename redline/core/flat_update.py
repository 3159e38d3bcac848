"""Incremental update of a fitted flat softmax with a batch of new examples (no full refit).

The full objective of the flat model is ``C * sum_i CE_i(W, b) + ||W||^2 / 2`` over every training row.
An update minimises it approximately, warm-started from the current fit:

- only the *active* classes move: the labels of the new rows and the classes the current model ranks
  highest for them; the other classes' logits are frozen (they enter each row's softmax as a constant
  log-sum-exp, as in :func:`redline.core.flat_new_class.fit_new_class_row`);
- the old rows are represented by a stratified sample (more rows of the active classes), weighted up
  to their class counts, so the sampled objective matches the full one in expectation;
- a control variate makes the sampled old objective's gradient vanish at the current fit (which
  minimised the full old objective): the sample shapes the curvature only, so the update does not
  drift towards the sampled rows;
- only feature columns present in the sampled rows change (under the control variate the others have
  zero gradient), and the solver runs a bounded number of L-BFGS iterations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class FlatUpdateSettings:
    """How an incremental flat update approximates the full refit.

    Parameters
    ----------
    competitors : int
        Classes ranked highest for each new row that move with the new rows' own labels.
    per_label_active : int
        Old rows kept per active class.
    per_label_other : int
        Old rows kept per other class.
    max_iter : int
        L-BFGS iterations.
    columns : {"new", "sample"}
        Feature columns that move: those of the new rows (and the dense embedding), or those of every
        sampled row.
    """

    competitors: int = 3
    per_label_active: int = 10
    per_label_other: int = 1
    max_iter: int = 15
    columns: str = "new"


def stratified_rows(
    codes: IntArray, rows: IntArray, cap: IntArray, rng: np.random.Generator
) -> tuple[IntArray, FloatArray]:
    """A sample of ``rows`` with at most ``cap[c]`` rows of class ``c``, and each kept row's weight (its
    class's count over the kept count), so that weighted sums estimate sums over all ``rows``."""
    if rows.size == 0:
        return rows.astype(np.int64), np.zeros(0)
    order = rng.permutation(rows)
    labs = codes[order]
    sort = np.argsort(labs, kind="stable")
    sorted_labs = labs[sort]
    starts = np.r_[0, np.flatnonzero(sorted_labs[1:] != sorted_labs[:-1]) + 1]
    rank = np.arange(sorted_labs.size) - np.repeat(starts, np.diff(np.r_[starts, sorted_labs.size]))
    kept = np.sort(order[sort[rank < cap[sorted_labs]]]).astype(np.int64)
    count = np.bincount(codes[rows], minlength=cap.size)
    count_kept = np.bincount(codes[kept], minlength=cap.size)
    weight: FloatArray = (count[codes[kept]] / count_kept[codes[kept]]).astype(np.float64)
    return kept, weight


def _lse(Z: FloatArray) -> FloatArray:
    """Row-wise log-sum-exp (rows of -inf give -inf)."""
    zmax = np.max(Z, axis=1, keepdims=True)
    zmax = np.where(np.isfinite(zmax), zmax, 0.0)
    out: FloatArray = (zmax + np.log(np.sum(np.exp(Z - zmax), axis=1, keepdims=True)))[:, 0]
    return out


class _Design:
    """The sampled rows' features restricted to their column support: a dense part (columns present in
    most rows, e.g. the embedding) multiplied with BLAS, and a sparse part (the n-grams). ``cols`` lists
    the support columns, dense ones first.

    The products run in float32 (the model's own precision) and return float64, in which the
    objective is summed: one update at 1000 labels spent 1.7-2.3 s of CPU in them in float64 against
    1.2-1.3 s (three interleaved pairs), an update at 150 labels 0.95 / 0.98 s in all against 0.82 /
    0.81 s; bench_learning's quality part (every pool streamed through updates): CLINC150 0.9647 ->
    0.9644, BANKING77 0.9328 -> 0.9318 (1 and 3 test texts)."""

    def __init__(self, F_rows: Any, support: IntArray) -> None:
        F_rows = sparse.csr_matrix(F_rows)
        density = np.bincount(F_rows.indices, minlength=F_rows.shape[1])[support] / max(F_rows.shape[0], 1)
        dense = density > 0.25
        self.cols = np.concatenate([support[dense], support[~dense]])
        self.n_dense = int(dense.sum())
        self.D = np.asarray(F_rows[:, support[dense]].toarray(), dtype=np.float32)
        self.S = sparse.csr_matrix(F_rows[:, support[~dense]], dtype=np.float32)
        self.ST = sparse.csr_matrix(self.S.T)

    def times(self, W: NDArray[np.floating[Any]]) -> FloatArray:
        """``F_rows @ W.T`` for ``W`` of shape (k, len(cols))."""
        nd = self.n_dense
        W32 = np.asarray(W, dtype=np.float32)  # a no-op for the model's own (float32) coefficients
        out = self.D @ W32[:, :nd].T + np.asarray(self.S @ W32[:, nd:].T)
        return np.asarray(out, dtype=np.float64)

    def t_times(self, G: FloatArray) -> FloatArray:
        """``G.T @ F_rows`` of shape (k, len(cols))."""
        G32 = np.asarray(G, dtype=np.float32)
        return np.asarray(np.hstack([G32.T @ self.D, np.asarray(self.ST @ G32).T]), dtype=np.float64)


def _per_class_block(
    coef: NDArray[np.floating[Any]],
    cols: IntArray | None,
    product: Callable[[NDArray[np.floating[Any]]], FloatArray],
    n_rows: int,
    block_bytes: int = 16 << 20,
) -> FloatArray:
    """``product(W)`` for ``W = coef[:, cols]`` in ``coef``'s dtype (every column when ``cols`` is None),
    a block of classes at a time; ``product`` maps (k, c) weights to (n_rows, k) float64 scores. A
    float64 copy of the whole float32 ``coef`` was the update's largest array (163 MiB at 1000 labels,
    made twice)."""
    K = coef.shape[0]
    step = max(1, block_bytes // (8 * max(coef.shape[1] if cols is None else cols.size, 1)))
    out = np.empty((n_rows, K), dtype=np.float64)
    for lo in range(0, K, step):
        block = coef[lo : lo + step] if cols is None else coef[lo : lo + step][:, cols]
        out[:, lo : lo + step] = product(block)
    return out


def _lbfgs(
    fun: Callable[[FloatArray], tuple[float, FloatArray]], x0: FloatArray, max_iter: int, memory: int = 5
) -> FloatArray:
    """Minimise ``fun`` (value and gradient) from ``x0`` with at most ``max_iter`` L-BFGS steps
    (two-loop recursion, backtracking Armijo line search).

    Written here rather than calling scipy's L-BFGS-B: with ~10^6 variables its Fortran step (bounds
    handling included) took 32 ms per iteration on this machine against ~5 ms for this loop, more than
    the objective itself (benchmarks/bench_learning.py times the whole update).
    """
    x = x0.copy()
    f, g = fun(x)
    S: list[FloatArray] = []
    Y: list[FloatArray] = []
    for _ in range(max_iter):
        if float(np.max(np.abs(g))) < 1e-8:
            break
        q = g.copy()
        alphas = []
        for s, y in zip(reversed(S), reversed(Y), strict=True):
            a = float(s @ q) / float(y @ s)
            alphas.append(a)
            q -= a * y
        if S:
            q *= float(S[-1] @ Y[-1]) / float(Y[-1] @ Y[-1])
        else:
            q *= 1.0 / max(float(np.abs(g).sum()), 1.0)
        for (s, y), a in zip(zip(S, Y, strict=True), reversed(alphas), strict=True):
            q += (a - float(y @ q) / float(y @ s)) * s
        d = -q
        slope = float(g @ d)
        if slope >= 0:  # not a descent direction: restart from the gradient
            S.clear()
            Y.clear()
            d = -g / max(float(np.abs(g).sum()), 1.0)
            slope = float(g @ d)
        step = 1.0
        for _halving in range(20):
            x_new = x + step * d
            f_new, g_new = fun(x_new)
            if f_new <= f + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            break
        s_k, y_k = x_new - x, g_new - g
        if float(s_k @ y_k) > 1e-12:
            S.append(s_k)
            Y.append(y_k)
            if len(S) > memory:
                del S[0], Y[0]
        x, f, g = x_new, f_new, g_new
    return x


def update_flat(
    F: Any,
    codes: IntArray,
    new_rows: IntArray,
    coef: NDArray[np.floating],
    intercept: NDArray[np.floating],
    *,
    C: float,
    seed: int,
    settings: FlatUpdateSettings,
    pause: Callable[[], None] | None = None,
) -> tuple[NDArray[np.float32], NDArray[np.float64], IntArray]:
    """Update a flat softmax ``(coef, intercept)`` fitted on the rows of ``F`` outside ``new_rows`` so
    that it approximately minimises the full objective on all rows.

    Parameters
    ----------
    F : sparse matrix, ndarray or RowFeatures (n, d)
        Features of every training row, the new rows included: only ``F[rows]`` of the new and the
        sampled rows and ``F.shape`` are read.
    codes : ndarray of int (n,)
        Class index (a row of ``coef``) of each row.
    new_rows : ndarray of int
        The rows not yet learned.
    coef, intercept : ndarray (k, d), (k,)
        The current fit.
    C : float
        Inverse regularisation, as in the full fit.
    seed : int
        Seeds the sample of old rows (with the number of rows).
    settings : FlatUpdateSettings
        Active classes, sample sizes and iterations.
    pause : callable, optional
        Called after each evaluation of the objective (a stream worker yields the CPU there to its
        classify path); the result does not depend on it.

    Returns
    -------
    (ndarray (k, d) float32, ndarray (k,) float64, ndarray of int)
        New coefficients and intercepts (the inputs are not modified) and the classes that moved.
    """
    n, K = codes.size, coef.shape[0]
    rng = np.random.default_rng((seed, n))
    new_rows = np.unique(np.asarray(new_rows, dtype=np.int64))
    is_new = np.zeros(n, dtype=bool)
    is_new[new_rows] = True
    b = np.asarray(intercept, dtype=np.float64)
    # active classes: the new rows' labels and the classes the current model ranks highest for them
    F_new = sparse.csr_matrix(F[new_rows])
    Z_new = _per_class_block(coef, None, lambda W: np.asarray(F_new @ W.T), F_new.shape[0]) + b
    top = np.argsort(-Z_new, axis=1)[:, : min(settings.competitors, K)]
    active = np.unique(np.concatenate([codes[new_rows], top.ravel()])).astype(np.int64)
    is_active = np.zeros(K, dtype=bool)
    is_active[active] = True
    cap = np.where(is_active, settings.per_label_active, settings.per_label_other).astype(np.int64)
    old_kept, old_weight = stratified_rows(codes, np.flatnonzero(~is_new), cap, rng)
    rows = np.concatenate([new_rows, old_kept])
    weight = C * np.concatenate([np.ones(new_rows.size), old_weight])
    old_only = weight.copy()
    old_only[: new_rows.size] = 0.0

    F_rows = sparse.vstack([F_new, sparse.csr_matrix(F[old_kept])], format="csr")  # the rows of ``rows``
    support = np.unique(F_rows.indices).astype(np.int64)
    every = _Design(F_rows, support)  # every class's current logits, dense part with BLAS
    Z0 = _per_class_block(coef, every.cols, every.times, rows.size) + b
    if settings.columns == "new":
        dense = np.bincount(F_rows.indices, minlength=F.shape[1]) > 0.25 * rows.size
        support = np.union1d(np.flatnonzero(dense), np.unique(F_new.indices)).astype(np.int64)
        design = _Design(F_rows, support)
    else:
        design = every
    W0 = np.asarray(coef[active][:, design.cols], dtype=np.float64)
    M = _lse(Z0[:, ~is_active]) if not is_active.all() else np.full(rows.size, -np.inf)
    pos = np.full(K, -1, dtype=np.int64)
    pos[active] = np.arange(active.size)
    target = pos[codes[rows]]  # column of the row's label among the active classes, -1 when frozen
    hit = np.flatnonzero(target >= 0)
    kA, dA = active.size, design.cols.size

    def data_term(theta: FloatArray, w: FloatArray) -> tuple[float, FloatArray]:
        WA = theta[: kA * dA].reshape(kA, dA)
        ZA = design.times(WA) + theta[kA * dA :] + Z_rest
        L = _lse(np.concatenate([ZA, M[:, None]], axis=1))
        loss = float(w @ L - w[hit] @ ZA[hit, target[hit]])
        G = np.exp(ZA - L[:, None]) * w[:, None]
        G[hit, target[hit]] -= w[hit]
        return loss, np.concatenate([design.t_times(G).ravel(), G.sum(axis=0)])

    Z_rest = Z0[:, active] - design.times(W0) - b[active]  # the columns that do not move
    theta0 = np.concatenate([W0.ravel(), b[active]])
    penalised = np.concatenate([np.ones(kA * dA), np.zeros(kA)])
    # the gradient of the sampled old objective at the current fit, which the full one makes ~0
    correction = data_term(theta0, old_only)[1] + penalised * theta0

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        loss, grad = data_term(theta, weight)
        reg = penalised * theta
        if pause is not None:
            pause()
        return loss + 0.5 * float(reg @ theta) - float(correction @ theta), grad + reg - correction

    theta = _lbfgs(objective, theta0, settings.max_iter)
    new_coef = np.array(coef, dtype=np.float32, copy=True, order="K")  # the model's layout: no second copy
    new_coef[np.ix_(active, design.cols)] = theta[: kA * dA].reshape(kA, dA)
    new_intercept = np.array(intercept, dtype=np.float64, copy=True)
    new_intercept[active] = theta[kA * dA :]
    return new_coef, new_intercept, active
