"""``RedClassifier``: the engine's scorer (subsets, flat or hybrid) behind one scikit-learn-style API."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from redline.core.classifier_snapshot import classifier_state, restore_classifier
from redline.core.config import EngineConfig
from redline.core.features import FeatureBuilder
from redline.core.flat_new_class import fit_new_class_row
from redline.core.labels import label_embeddings
from redline.core.partition import LabelPartition
from redline.core.subsets import NOISE, StackedSubsets, SubsetClassifier, _softmax, noise_indices
from redline.core.uncertainty import margin_uncertainty, normalised_entropy
from redline.errors import InputDataError, ModelError

FloatArray = NDArray[np.floating]


@dataclass(frozen=True)
class Scores:
    """Everything one scoring pass yields.

    Attributes
    ----------
    proba : ndarray (n, n_classes)
        Distribution over ``classes_`` (rows sum to 1).
    entropy : ndarray (n,)
        Normalised entropy: of the proposing subset's distribution for the subset scorer (the recipe's
        measure), of ``proba`` otherwise.
    margin : ndarray (n,)
        1 - (p1 - p2) of ``proba``.
    """

    proba: FloatArray
    entropy: FloatArray
    margin: FloatArray

    def uncertainty(self, kind: str) -> FloatArray:
        """The measure named ``kind`` ("entropy" or "margin")."""
        return self.entropy if kind == "entropy" else self.margin


class RedClassifier:
    """Recursive-expert-delegation classifier over precomputed, normalised text embeddings.

    Parameters
    ----------
    config : EngineConfig
        How to score (see :class:`redline.core.config.EngineConfig`).
    """

    flat_coef_: NDArray[np.float32]
    flat_intercept_: NDArray[np.float64]

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config

    @property
    def _cfg(self) -> EngineConfig:
        return self.config if self.config is not None else EngineConfig()

    # -- fitting -----------------------------------------------------------------------------------
    def fit(
        self,
        X: FloatArray,
        texts: Sequence[str],
        y: Sequence[str],
        descriptions: Mapping[str, str] | None = None,
    ) -> RedClassifier:
        """Fit on embeddings ``X`` with texts ``texts`` and labels ``y``."""
        X, texts, y_arr = _validate(X, texts, y)
        cfg = self._cfg
        self.classes_ = np.asarray(sorted(set(y_arr.tolist())))
        if self.classes_.size < 2:
            raise InputDataError("need at least 2 distinct labels to fit")
        self.descriptions_ = dict(descriptions or {})
        self.X_, self.texts_, self.y_ = X, list(texts), y_arr
        self.features_ = FeatureBuilder(cfg.features, cfg.ngram_weight).fit(self.texts_)
        self._F = self.features_.transform(self.X_, self.texts_)
        self.partition_: LabelPartition | None = None
        self.subset_models_: list[SubsetClassifier] = []
        if cfg.scorer in ("subsets", "hybrid"):
            E = label_embeddings(self.X_, self.y_.tolist(), self.classes_.tolist())
            self.partition_ = LabelPartition(
                cfg.max_subset_size, cfg.reducer, cfg.umap_components, cfg.seed
            ).fit(E, self.classes_.tolist())
            self.subset_models_ = [self._fit_subset(s) for s in range(len(self.partition_.subsets_))]
            self._stack()
        if cfg.scorer in ("flat", "hybrid"):
            self._fit_flat()
        return self

    def _fit_subset(self, s: int) -> SubsetClassifier:
        cfg = self._cfg
        assert self.partition_ is not None
        labels = self.partition_.subsets_[s]
        inside = np.flatnonzero(np.isin(self.y_, labels))
        rng = np.random.default_rng((cfg.seed, s, len(self.y_)))
        noise = noise_indices(self.y_, labels, cfg.noise, rng, cfg.noise_factor, cfg.noise_per_label)
        rows = np.concatenate([inside, noise])
        y_sub = np.concatenate([self.y_[inside], np.full(noise.size, NOISE)])
        model = SubsetClassifier(labels, cfg.C, cfg.backend, cfg.max_iter)
        return model.fit(self._F[rows], y_sub.tolist())

    def _stack(self) -> None:
        self.stacked_ = StackedSubsets(self.subset_models_, self.classes_.tolist())

    def _fit_flat(self) -> None:
        # deferred: scikit-learn costs about a second to import; importing the core need not pay for it
        from sklearn.linear_model import LogisticRegression

        cfg = self._cfg
        model = LogisticRegression(C=cfg.C, max_iter=cfg.max_iter)
        prev = getattr(self, "flat_coef_", None)
        if prev is not None and prev.shape == (self.classes_.size, self._F.shape[1]):
            # warm start from the last fit (same classes, same features): refits after learn() converge fast
            model.set_params(warm_start=True)
            model.coef_ = np.asarray(prev, dtype=np.float64)
            model.intercept_ = np.asarray(self.flat_intercept_, dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(self._F, self.y_)
        order = [model.classes_.tolist().index(c) for c in self.classes_.tolist()]
        self.flat_coef_ = np.asarray(model.coef_)[order].astype(np.float32)
        self.flat_intercept_ = np.asarray(model.intercept_)[order]

    # -- scoring -----------------------------------------------------------------------------------
    def predict_scores(self, X: FloatArray, texts: Sequence[str]) -> Scores:
        """One vectorised scoring pass: probabilities and both uncertainty measures."""
        self._check()
        cfg = self._cfg
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.X_.shape[1]:
            raise ModelError(f"embeddings of shape {X.shape}, expected (n, {self.X_.shape[1]})")
        F = self.features_.transform(X, texts)
        entropy_sub: FloatArray | None = None
        if cfg.scorer == "flat":
            proba = self._flat_proba(F)
        else:
            proba, entropy_sub = self.stacked_.scores(F, cfg.combine)
            if cfg.scorer == "hybrid":
                proba = cfg.hybrid_weight * proba + (1 - cfg.hybrid_weight) * self._flat_proba(F)
                entropy_sub = None
        if cfg.knn > 0:
            proba = (1 - cfg.knn_weight) * proba + cfg.knn_weight * self._knn_proba(X)
        entropy = entropy_sub if entropy_sub is not None else normalised_entropy(proba)
        return Scores(proba, entropy, margin_uncertainty(proba))

    def _flat_proba(self, F: Any) -> FloatArray:
        Z = np.asarray(F @ self.flat_coef_.T, dtype=np.float64) + self.flat_intercept_
        return _softmax(Z)

    def _knn_proba(self, X: FloatArray) -> FloatArray:
        k = min(self._cfg.knn, len(self.y_))
        sims = X @ self.X_.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        codes = np.searchsorted(self.classes_, self.y_)
        out = np.zeros((X.shape[0], self.classes_.size))
        w = np.maximum(np.take_along_axis(sims, top, axis=1), 0.0)
        np.add.at(out, (np.repeat(np.arange(X.shape[0]), k), codes[top].ravel()), w.ravel())
        result: FloatArray = out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
        return result

    def predict_proba(self, X: FloatArray, texts: Sequence[str]) -> FloatArray:
        """Probabilities over ``classes_``, shape (n, n_classes)."""
        return self.predict_scores(X, texts).proba

    def predict(self, X: FloatArray, texts: Sequence[str]) -> NDArray[np.str_]:
        """Most probable label of each row."""
        proba = self.predict_proba(X, texts)
        return np.asarray(self.classes_[np.argmax(proba, axis=1)])

    # -- learning ----------------------------------------------------------------------------------
    def learn(self, X: FloatArray, texts: Sequence[str], y: Sequence[str]) -> RedClassifier:
        """Add validated examples; retrain only the subsets whose labels received examples (and the flat
        model when the scorer uses one). With the river backend the affected subsets take one SGD step per
        example instead of a batch refit."""
        self._check()
        X, texts, y_arr = _validate(X, texts, y)
        unknown = sorted(set(y_arr.tolist()) - set(self.classes_.tolist()))
        if unknown:
            raise InputDataError(f"unknown labels {unknown[:5]}: add them with add_label first")
        start = len(self.y_)
        self._append(X, texts, y_arr)
        cfg = self._cfg
        if self.partition_ is not None:
            affected = sorted({self.partition_.subset_of(lab) for lab in y_arr.tolist()})
            if cfg.backend == "river":
                F_new = self._F[start:]
                for i, lab in enumerate(y_arr.tolist()):
                    s = self.partition_.subset_of(lab)
                    self.subset_models_[s].learn_one(_row(F_new, i), lab)
            else:
                for s in affected:
                    self.subset_models_[s] = self._fit_subset(s)
            self.last_retrained_ = affected
            self._stack()
        if cfg.scorer in ("flat", "hybrid"):
            self._fit_flat()
        return self

    def refit(self) -> RedClassifier:
        """Batch-refit every model on all data seen so far (the periodic refit)."""
        self._check()
        if self.partition_ is not None:
            self.subset_models_ = [self._fit_subset(s) for s in range(len(self.partition_.subsets_))]
            self._stack()
        if self._cfg.scorer in ("flat", "hybrid"):
            self._fit_flat()
        return self

    def add_label(
        self,
        label: str,
        X: FloatArray,
        texts: Sequence[str],
        description: str = "",
        refit_flat: bool = False,
    ) -> RedClassifier:
        """Add a new class at run time.

        Subset scorer: the label joins one subset (see :meth:`LabelPartition.add_label`) and only that
        subset retrains. Flat scorer: only the new class's weights are fitted, the others frozen (a binary
        logistic regression against the old softmax, about 1/K of a full refit) unless ``refit_flat``;
        :meth:`refit` later refits everything.
        """
        self._check()
        X, texts, _ = _validate(X, texts, [label] * len(texts))
        if label in set(self.classes_.tolist()):
            raise InputDataError(f"label {label!r} already exists")
        self._append(X, texts, np.full(len(texts), label))
        old_classes = self.classes_
        self.classes_ = np.asarray(sorted([*self.classes_.tolist(), label]))
        if description:
            self.descriptions_[label] = description
        if self.partition_ is not None:
            e = label_embeddings(X, [label] * len(texts), [label])[0]
            s = self.partition_.add_label(label, e)
            if s == len(self.subset_models_):
                self.subset_models_.append(self._fit_subset(s))
            else:
                self.subset_models_[s] = self._fit_subset(s)
            self.last_retrained_ = [s]
            self._stack()
        if self._cfg.scorer in ("flat", "hybrid"):
            if refit_flat:
                self._fit_flat()
            else:
                self._add_flat_class(label, old_classes)
        return self

    def _add_flat_class(self, label: str, old_classes: NDArray[np.str_]) -> None:
        """Insert the new class's row into the flat softmax (see :func:`fit_new_class_row`)."""
        cfg = self._cfg
        row, intercept = fit_new_class_row(
            self._F,
            self.y_,
            label,
            self.flat_coef_,
            self.flat_intercept_,
            C=cfg.C,
            max_iter=cfg.max_iter,
            seed=cfg.seed,
            per_label=cfg.noise_per_label,
        )
        pos = int(np.searchsorted(old_classes, label))
        self.flat_coef_ = np.insert(self.flat_coef_, pos, row.astype(np.float32), axis=0)
        self.flat_intercept_ = np.insert(self.flat_intercept_, pos, intercept)

    def _append(self, X: FloatArray, texts: Sequence[str], y: NDArray[np.str_]) -> None:
        self.X_ = np.vstack([self.X_, X])
        self.texts_ += list(texts)
        self.y_ = np.concatenate([self.y_, y])
        F_new = self.features_.transform(X, texts)
        self._F = (
            sparse.vstack([self._F, F_new], format="csr")
            if sparse.issparse(F_new)
            else np.vstack([self._F, F_new])
        )

    def _check(self) -> None:
        if not hasattr(self, "classes_"):
            raise ModelError("RedClassifier is not fitted")

    # -- judge context -----------------------------------------------------------------------------
    def nearest_examples(self, x: FloatArray, label: str, k: int) -> list[str]:
        """The ``k`` training texts of ``label`` nearest (cosine) to embedding ``x``, nearest first."""
        self._check()
        rows = getattr(self, "_label_rows", None)
        if rows is None or rows[0] != len(self.y_):
            order = np.argsort(self.y_, kind="stable")
            sorted_y = self.y_[order]
            bounds = np.flatnonzero(sorted_y[1:] != sorted_y[:-1]) + 1
            groups = np.split(order, bounds)
            rows = (len(self.y_), {str(self.y_[g[0]]): g for g in groups if g.size})
            self._label_rows = rows
        idx = rows[1].get(label, np.zeros(0, dtype=np.int64))
        if idx.size == 0 or k <= 0:
            return []
        sims = self.X_[idx] @ np.asarray(x, dtype=np.float32)
        order = idx[np.argsort(-sims, kind="stable")[:k]]
        return [self.texts_[i] for i in order.tolist()]

    # -- snapshots ---------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """A snapshot of plain values and numpy arrays (no pickled objects)."""
        self._check()
        return classifier_state(self)

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> RedClassifier:
        """Rebuild from :meth:`to_state` without refitting any model."""
        return restore_classifier(cls, state)


def _row(F: Any, i: int) -> FloatArray:
    row = F[i]
    return np.asarray(row.toarray()[0] if hasattr(row, "toarray") else row, dtype=np.float64)


def _validate(
    X: FloatArray, texts: Sequence[str], y: Sequence[str]
) -> tuple[FloatArray, list[str], NDArray[np.str_]]:
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
