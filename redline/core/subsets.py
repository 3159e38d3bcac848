"""One classifier per label subset, with an extra "noise" class (R.E.D. steps 2-3).

``SubsetClassifier`` has two backends behind one interface: batch scikit-learn logistic regression
(``fit``) and river's ``SoftmaxRegression`` (``learn_one`` / ``predict_proba_one``), warm-started from
the last batch fit so the streaming system can update instantly between batch refits.
``noise_indices`` builds a subset's noise class; ``StackedSubsets`` scores every subset in one matrix
product.
"""

from __future__ import annotations

import collections
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from redline.errors import ConfigError, ModelError

NOISE = "__noise__"
FloatArray = NDArray[np.floating]
Features = Any  # dense ndarray or scipy sparse matrix


def noise_indices(
    y: NDArray[np.str_],
    subset_labels: Sequence[str],
    mode: str,
    rng: np.random.Generator,
    factor: float = 2.0,
    per_label: int = 10,
) -> NDArray[np.int64]:
    """Rows of ``y`` that form the noise class of a subset.

    ``recipe``: ``factor`` x the subset's average class size, sampled uniformly from other subsets' rows
    (as written); ``all``: every other row; ``stratified``: up to ``per_label`` rows of every foreign label.
    """
    inside = np.isin(y, np.asarray(list(subset_labels)))
    outside = np.flatnonzero(~inside)
    if mode == "all" or outside.size == 0:
        return outside.astype(np.int64)
    if mode == "recipe":
        avg = inside.sum() / max(len(subset_labels), 1)
        k = min(outside.size, max(1, round(factor * avg)))
        return np.sort(rng.choice(outside, size=k, replace=False)).astype(np.int64)
    if mode == "stratified":
        order = rng.permutation(outside)
        labs = y[order]
        # rank of each row within its label, in the shuffled order
        sort = np.argsort(labs, kind="stable")
        sorted_labs = labs[sort]
        starts = np.r_[0, np.flatnonzero(sorted_labs[1:] != sorted_labs[:-1]) + 1]
        run = np.arange(sorted_labs.size) - np.repeat(starts, np.diff(np.r_[starts, sorted_labs.size]))
        keep = sort[run < per_label]
        return np.sort(order[keep]).astype(np.int64)
    raise ConfigError(f"unknown noise mode {mode!r}")


class SubsetClassifier:
    """An (n+1)-class classifier for one subset: its labels plus ``NOISE``.

    Parameters
    ----------
    labels : sequence of str
        The subset's labels.
    C : float
        Inverse L2 regularisation (batch backend; the river backend uses ``l2 = 1 / (C * n)``).
    backend : {"sklearn", "river"}
    max_iter : int
        Iterations of the batch solver.
    learning_rate : float
        SGD step of the river backend.

    Attributes
    ----------
    classes_ : ndarray of str
        ``[NOISE, *labels]``.
    coef_ : ndarray of shape (n+1, d)
    intercept_ : ndarray of shape (n+1,)
    """

    def __init__(
        self,
        labels: Sequence[str],
        C: float = 10.0,
        backend: str = "sklearn",
        max_iter: int = 300,
        learning_rate: float = 0.05,
    ) -> None:
        self.labels = labels
        self.C = C
        self.backend = backend
        self.max_iter = max_iter
        self.learning_rate = learning_rate

    def fit(self, X: Features, y: Sequence[str]) -> SubsetClassifier:
        """Fit on rows whose label is one of ``labels`` or ``NOISE``."""
        from sklearn.linear_model import LogisticRegression

        if self.backend not in ("sklearn", "river"):
            raise ConfigError(f"unknown backend {self.backend!r}")
        self.classes_ = np.asarray([NOISE, *self.labels])
        y_arr = np.asarray(y)
        unknown = set(np.unique(y_arr).tolist()) - set(self.classes_.tolist())
        if unknown:
            raise ModelError(f"SubsetClassifier.fit got labels outside its subset: {sorted(unknown)[:5]}")
        present = np.unique(y_arr)
        d = X.shape[1]
        self.coef_ = np.zeros((len(self.classes_), d))
        self.intercept_ = np.full(len(self.classes_), -30.0)
        if present.size == 1:  # a single class: it always wins
            self.intercept_[self.classes_.tolist().index(present[0])] = 0.0
        else:
            model = LogisticRegression(C=self.C, max_iter=self.max_iter)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence warnings: max_iter is a deliberate cap
                model.fit(X, y_arr)
            pos = [self.classes_.tolist().index(c) for c in model.classes_.tolist()]
            coef = np.asarray(model.coef_)
            icpt = np.asarray(model.intercept_)
            if coef.shape[0] == 1:  # binary: sklearn returns one row (class 1 vs 0)
                coef = np.vstack([-coef[0] / 2, coef[0] / 2])
                icpt = np.array([-icpt[0] / 2, icpt[0] / 2])
            self.coef_[pos] = coef
            self.intercept_[pos] = icpt
        self.n_seen_ = int(y_arr.size)
        self._river: Any = None
        return self

    # -- scoring -----------------------------------------------------------------------------------
    def decision_function(self, X: Features) -> FloatArray:
        """Logits of shape (n, n_labels + 1)."""
        self._check()
        out: FloatArray = np.asarray(X @ self.coef_.T) + self.intercept_
        return out

    def predict_proba(self, X: Features) -> FloatArray:
        """Probabilities over ``classes_``."""
        return _softmax(self.decision_function(X))

    # -- river backend -----------------------------------------------------------------------------
    def _river_model(self) -> Any:
        if self._river is None:
            from river import linear_model, optim

            model = linear_model.SoftmaxRegression(
                optimizer=optim.SGD(self.learning_rate), l2=1.0 / (self.C * max(self.n_seen_, 1))
            )
            for k, cls in enumerate(self.classes_.tolist()):
                w: collections.defaultdict[Any, float] = collections.defaultdict(float)
                w.update({i: float(v) for i, v in enumerate(self.coef_[k]) if v != 0.0})
                w["bias"] = float(self.intercept_[k])
                model.weights[cls] = w
            self._river = model
        return self._river

    def learn_one(self, x: Mapping[Any, float] | FloatArray, y: str) -> SubsetClassifier:
        """Update incrementally with one example (river SGD step), then refresh ``coef_``/``intercept_``."""
        self._check()
        if y not in set(self.classes_.tolist()):
            raise ModelError(f"label {y!r} is not in this subset (use NOISE for foreign labels)")
        model = self._river_model()
        xd = _as_dict(x)
        model.learn_one(xd, y)
        for k, cls in enumerate(self.classes_.tolist()):
            w = model.weights[cls]
            self.intercept_[k] = w.get("bias", 0.0)
            for i in xd:
                if i != "bias":
                    self.coef_[k, int(i)] = w.get(i, 0.0)
        self.n_seen_ += 1
        return self

    def predict_proba_one(self, x: Mapping[Any, float] | FloatArray) -> dict[str, float]:
        """Probabilities of one example as ``{class: p}`` (river convention)."""
        self._check()
        xd = _as_dict(x)
        row = np.zeros(self.coef_.shape[1])
        for i, v in xd.items():
            if i != "bias":
                row[int(i)] = v
        p = self.predict_proba(row[None, :])[0]
        return {str(c): float(v) for c, v in zip(self.classes_.tolist(), p, strict=True)}

    def _check(self) -> None:
        if not hasattr(self, "coef_"):
            raise ModelError("SubsetClassifier is not fitted")

    def to_state(self) -> dict[str, Any]:
        """Snapshot of the learned weights."""
        self._check()
        return {
            "labels": list(self.labels),
            "C": self.C,
            "backend": self.backend,
            "max_iter": self.max_iter,
            "learning_rate": self.learning_rate,
            "coef": self.coef_,
            "intercept": self.intercept_,
            "n_seen": self.n_seen_,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SubsetClassifier:
        """Rebuild from :meth:`to_state`."""
        model = cls(state["labels"], state["C"], state["backend"], state["max_iter"], state["learning_rate"])
        model.classes_ = np.asarray([NOISE, *model.labels])
        model.coef_ = np.asarray(state["coef"], dtype=np.float64).copy()
        model.intercept_ = np.asarray(state["intercept"], dtype=np.float64).copy()
        model.n_seen_ = int(state["n_seen"])
        model._river = None
        return model


def _as_dict(x: Mapping[Any, float] | FloatArray) -> dict[Any, float]:
    if isinstance(x, Mapping):
        out = dict(x)
    else:
        arr = np.asarray(x, dtype=np.float64).ravel()
        out = {i: float(v) for i, v in enumerate(arr)}
    out["bias"] = 1.0
    return out


def _softmax(Z: FloatArray, axis: int = -1) -> FloatArray:
    Z = Z - Z.max(axis=axis, keepdims=True)
    E = np.exp(Z)
    return np.asarray(E / E.sum(axis=axis, keepdims=True))


class StackedSubsets:
    """All subset models' weights stacked: one matrix product scores every subset.

    Parameters
    ----------
    models : sequence of SubsetClassifier
        Fitted subset models.
    classes : sequence of str
        Global label order of the output.
    """

    def __init__(self, models: Sequence[SubsetClassifier], classes: Sequence[str]) -> None:
        width = max(len(m.classes_) for m in models)
        d = models[0].coef_.shape[1]
        S = len(models)
        W = np.zeros((S, width, d), dtype=np.float32)
        b = np.full((S, width), -1e9, dtype=np.float32)  # padding never wins
        index = {lab: i for i, lab in enumerate(classes)}
        self.slot_subset = np.zeros(len(classes), dtype=np.int64)
        self.slot_pos = np.zeros(len(classes), dtype=np.int64)
        for s, m in enumerate(models):
            k = len(m.classes_)
            W[s, :k] = m.coef_
            b[s, :k] = m.intercept_
            for pos, lab in enumerate(m.classes_.tolist()[1:], start=1):
                self.slot_subset[index[lab]] = s
                self.slot_pos[index[lab]] = pos
        self.n_subsets, self.width, self.dim = S, width, d
        self.W = W.reshape(S * width, d).T.copy()  # (d, S*width)
        self.b = b.reshape(-1)
        self.sizes = np.array([len(m.classes_) for m in models])

    def logits(self, X: Features) -> FloatArray:
        """Per-subset logits, shape (n, n_subsets, width); slot 0 is the noise class."""
        if sparse.issparse(X):
            Z = np.asarray(X @ self.W) + self.b
        else:
            Z = np.asarray(X, dtype=np.float32) @ self.W + self.b
        return np.asarray(Z.reshape(Z.shape[0], self.n_subsets, self.width), dtype=np.float64)

    def scores(self, X: Features, combine: str) -> tuple[FloatArray, FloatArray]:
        """Return (global probabilities over ``classes``, per-text normalised entropy of the subset that
        proposes the top label, the recipe's uncertainty)."""
        L = self.logits(X)
        P = _softmax(L, axis=2)
        rows = np.arange(L.shape[0])
        if combine == "raw":
            per_label = P[:, self.slot_subset, self.slot_pos]
            proba = per_label / np.maximum(per_label.sum(axis=1, keepdims=True), 1e-300)
        elif combine == "noise-odds":
            odds = L[:, self.slot_subset, self.slot_pos] - L[:, self.slot_subset, 0]
            proba = _softmax(odds, axis=1)
        else:
            raise ConfigError(f"unknown combine mode {combine!r}")
        top_subset = self.slot_subset[np.argmax(proba, axis=1)]
        Pt = P[rows, top_subset]
        with np.errstate(divide="ignore", invalid="ignore"):
            H = -np.nansum(np.where(Pt > 0, Pt * np.log(Pt), 0.0), axis=1)
        entropy = H / np.log(np.maximum(self.sizes[top_subset], 2))
        return proba, entropy
