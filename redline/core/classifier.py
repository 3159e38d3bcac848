"""``RedClassifier``: the engine's scorer (subsets, flat or hybrid) behind one scikit-learn-style API."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from redline.core import classifier_changes as changes
from redline.core import classifier_snapshot as snapshot
from redline.core.config import EngineConfig
from redline.core.features import FeatureBuilder
from redline.core.flat_update import FlatUpdateSettings
from redline.core.labels import label_embeddings
from redline.core.partition import LabelPartition
from redline.core.subsets import NOISE, StackedSubsets, SubsetClassifier, _softmax, noise_indices
from redline.core.training_set import TrainingSet, validate_examples
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

    The fitted parameters (:meth:`params_state`) are kept apart from the training examples
    (``data_``, a :class:`TrainingSet`): a model loaded from parameters alone scores; with its
    examples it can also learn, refit, change labels and give the judge nearest examples.

    Parameters
    ----------
    config : EngineConfig
        How to score (see :class:`redline.core.config.EngineConfig`).
    update_settings : FlatUpdateSettings
        How :meth:`update` approximates a refit of the flat model.
    """

    flat_coef_: NDArray[np.float32]
    flat_intercept_: NDArray[np.float64]
    #: subsets retrained by the last change (subset scorers)
    last_retrained_: list[int]

    def __init__(
        self, config: EngineConfig | None = None, update_settings: FlatUpdateSettings | None = None
    ) -> None:
        self.config = config
        self.update_settings = update_settings if update_settings is not None else FlatUpdateSettings()
        self.data_: TrainingSet | None = None
        self._F: Any = None
        self._F_rows: Any = None  # the room _F grows in (:mod:`redline.core.feature_rows`)
        self._n_train = 0

    @property
    def _cfg(self) -> EngineConfig:
        return self.config if self.config is not None else EngineConfig()

    # -- training data -----------------------------------------------------------------------------
    @property
    def X_(self) -> NDArray[np.float32]:
        """Embeddings of the training examples (no rows when loaded without data)."""
        return self.data_.X if self.data_ is not None else np.zeros((0, self.embedding_dim_), np.float32)

    @property
    def texts_(self) -> tuple[str, ...]:
        """Texts of the training examples."""
        return self.data_.texts if self.data_ is not None else ()

    @property
    def y_(self) -> NDArray[np.str_]:
        """Labels of the training examples."""
        return self.data_.y if self.data_ is not None else np.zeros(0, dtype="<U1")

    @property
    def n_train_(self) -> int:
        """Training examples the parameters include (known without the examples themselves)."""
        return len(self.data_) if self.data_ is not None else self._n_train

    @property
    def has_data(self) -> bool:
        """True when the training examples are loaded (learning and judge context need them)."""
        return self.data_ is not None

    def _data(self, what: str) -> TrainingSet:
        if self.data_ is None:
            raise ModelError(
                f"{what} needs the training examples: load the model with from_params(params, data)"
            )
        return self.data_

    def _train_features(self) -> Any:
        """Features of the training rows, computed when first needed (loading to score never pays)."""
        data = self._data("learning")
        if self._F is None or self._F.shape[0] != len(data):
            self._F = self.features_.transform(data.X, data.texts)
        return self._F

    # -- fitting -----------------------------------------------------------------------------------
    def fit(
        self,
        X: FloatArray,
        texts: Sequence[str],
        y: Sequence[str],
        descriptions: Mapping[str, str] | None = None,
    ) -> RedClassifier:
        """Fit on embeddings ``X`` with texts ``texts`` and labels ``y``."""
        X, texts, y_arr = validate_examples(X, texts, y)
        cfg = self._cfg
        self.classes_ = np.asarray(sorted(set(y_arr.tolist())))
        if self.classes_.size < 2:
            raise InputDataError("need at least 2 distinct labels to fit")
        self.descriptions_ = dict(descriptions or {})
        self.embedding_dim_ = int(X.shape[1])
        self.data_ = TrainingSet(X, tuple(texts), y_arr)
        self.features_ = FeatureBuilder(cfg.features, cfg.ngram_weight).fit(texts)
        self._F = self.features_.transform(X, texts)
        self.partition_: LabelPartition | None = None
        self.subset_models_: list[SubsetClassifier] = []
        if cfg.scorer in ("subsets", "hybrid"):
            E = label_embeddings(X, y_arr.tolist(), self.classes_.tolist())
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
        y = self._data("retraining a subset").y
        labels = self.partition_.subsets_[s]
        inside = np.flatnonzero(np.isin(y, labels))
        rng = np.random.default_rng((cfg.seed, s, len(y)))
        noise = noise_indices(y, labels, cfg.noise, rng, cfg.noise_factor, cfg.noise_per_label)
        rows = np.concatenate([inside, noise])
        y_sub = np.concatenate([y[inside], np.full(noise.size, NOISE)])
        model = SubsetClassifier(labels, cfg.C, cfg.backend, cfg.max_iter)
        return model.fit(self._train_features()[rows], y_sub.tolist())

    def _stack(self) -> None:
        self.stacked_ = StackedSubsets(self.subset_models_, self.classes_.tolist())

    def _fit_flat(self) -> None:
        # deferred: scikit-learn costs about a second to import; importing the core need not pay for it
        from sklearn.linear_model import LogisticRegression

        cfg = self._cfg
        F = self._train_features()
        model = LogisticRegression(C=cfg.C, max_iter=cfg.max_iter)
        prev = getattr(self, "flat_coef_", None)
        if prev is not None and prev.shape == (self.classes_.size, F.shape[1]):
            # warm start from the last fit (same classes, same features): refits after learn() converge fast
            model.set_params(warm_start=True)
            model.coef_ = np.asarray(prev, dtype=np.float64)
            model.intercept_ = np.asarray(self.flat_intercept_, dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(F, self.y_)
        order = [model.classes_.tolist().index(c) for c in self.classes_.tolist()]
        self.flat_coef_ = np.asfortranarray(np.asarray(model.coef_)[order], dtype=np.float32)
        self.flat_intercept_ = np.asarray(model.intercept_)[order]

    # -- scoring -----------------------------------------------------------------------------------
    def predict_scores(self, X: FloatArray, texts: Sequence[str]) -> Scores:
        """One vectorised scoring pass: probabilities and both uncertainty measures."""
        self._check()
        cfg = self._cfg
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.embedding_dim_:
            raise ModelError(f"embeddings of shape {X.shape}, expected (n, {self.embedding_dim_})")
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
        F = F.astype(np.float32) if sparse.issparse(F) else np.asarray(F, dtype=np.float32)
        Z = np.asarray(F @ self._flat_weights(), dtype=np.float64) + self.flat_intercept_
        return _softmax(Z)

    def _flat_weights(self) -> NDArray[np.float32]:
        """``flat_coef_.T`` as a C-contiguous float32 view, for a sparse ``F @ W`` without copies.

        scipy copies a right operand that is not C-contiguous (``flat_coef_.T`` of a row-major array),
        and upcasts it to float64 when ``F`` is float64, on every product: 8 ms per batch of 8 texts at
        150 labels and 92 ms at 1000 labels, against 0.3 and 1.2 ms for the float32 product on the view
        (20,384 feature columns). ``flat_coef_`` is therefore kept column-major (same values and shape):
        a fit, a snapshot, an update and a class change assign it so, in the thread that makes the model;
        an array set from outside is converted once, here (~50 ms at 1000 labels).
        """
        if not self.flat_coef_.flags.f_contiguous or self.flat_coef_.dtype != np.float32:
            self.flat_coef_ = np.asfortranarray(self.flat_coef_, dtype=np.float32)
        return self.flat_coef_.T

    def _knn_proba(self, X: FloatArray) -> FloatArray:
        data = self._data("the nearest-neighbour vote (knn)")
        k = min(self._cfg.knn, len(data))
        sims = X @ data.X.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        codes = np.searchsorted(self.classes_, data.y)
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
        """Add validated examples; retrain only the subsets whose labels received examples, and refit
        the flat model exactly (warm-started) when the scorer uses one. With the river backend the
        affected subsets take one SGD step per example instead of a batch refit. See :meth:`update`
        for the incremental flat update."""
        changes.add_examples(self, X, texts, y)
        if self._cfg.scorer in ("flat", "hybrid"):
            self._fit_flat()
        return self

    def update(
        self, X: FloatArray, texts: Sequence[str], y: Sequence[str], pause: Callable[[], None] | None = None
    ) -> RedClassifier:
        """Add validated examples and update the model incrementally (about a second at 150 classes).

        The subsets are updated as in :meth:`learn`; the flat model is not refitted but moved by a
        bounded, warm-started optimisation of its full objective approximated on the new rows and a
        weighted sample of the old ones (see :func:`redline.core.flat_update.update_flat`).
        :meth:`refit` is the exact full refit to run periodically. ``pause``, when given, is called
        between the optimiser's evaluations (a worker yields the CPU there; the result is the same).
        """
        start = changes.add_examples(self, X, texts, y)
        if self._cfg.scorer in ("flat", "hybrid"):
            changes.update_flat_model(self, start, pause)
        return self

    def relearn(self, X: FloatArray, texts: Sequence[str], y: Sequence[str]) -> RedClassifier:
        """:meth:`update` with examples to weigh again (after a drift) without adding them to the
        training data: the data keeps each example once, as the examples a snapshot includes rebuild
        it; the extra weight lasts until the next :meth:`refit`."""
        changes.relearn_examples(self, X, texts, y)
        return self

    def refit(self) -> RedClassifier:
        """Batch-refit every model on all data seen so far (the periodic refit)."""
        self._check()
        self._data("refit")
        if self.partition_ is not None:
            self.subset_models_ = [self._fit_subset(s) for s in range(len(self.partition_.subsets_))]
            self._stack()
        if self._cfg.scorer in ("flat", "hybrid"):
            self._fit_flat()
        return self

    def _check(self) -> None:
        if not hasattr(self, "classes_"):
            raise ModelError("RedClassifier is not fitted")

    # -- labels ------------------------------------------------------------------------------------
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
        changes.add_label(self, label, X, texts, description, refit_flat)
        return self

    def remove_label(self, label: str) -> RedClassifier:
        """Remove a class: it is never predicted (nor offered to the judge) again, and its training
        examples leave the data.

        Flat scorer: its row of the softmax is dropped, the other rows untouched. Subset scorer: it
        leaves its subset, which retrains (or disappears when it held only this label).

        Raises
        ------
        InputDataError
            Unknown label, or fewer than 2 labels would remain.
        ModelError
            The model was loaded without its training examples.
        """
        changes.remove_label(self, label)
        return self

    def set_description(self, label: str, text: str) -> RedClassifier:
        """Set (or, with an empty ``text``, clear) the description the judge sees for ``label``."""
        changes.set_description(self, label, text)
        return self

    # -- judge context -----------------------------------------------------------------------------
    def nearest_examples(self, x: FloatArray, label: str, k: int) -> list[str]:
        """The ``k`` training texts of ``label`` nearest (cosine) to embedding ``x``, nearest first
        (none when the model was loaded without its training examples)."""
        self._check()
        data = self.data_
        if data is None or k <= 0:
            return []
        rows = getattr(self, "_label_rows", None)
        if rows is None or rows[0] is not data:
            order = np.argsort(data.y, kind="stable")
            sorted_y = data.y[order]
            bounds = np.flatnonzero(sorted_y[1:] != sorted_y[:-1]) + 1
            rows = (data, {str(data.y[g[0]]): g for g in np.split(order, bounds) if g.size})
            self._label_rows = rows
        idx = rows[1].get(label, np.zeros(0, dtype=np.int64))
        if idx.size == 0:
            return []
        sims = data.X[idx] @ np.asarray(x, dtype=np.float32)
        order = idx[np.argsort(-sims, kind="stable")[:k]]
        return [data.texts[i] for i in order.tolist()]

    # -- copies and snapshots ----------------------------------------------------------------------
    def copy(self) -> RedClassifier:
        """An independent copy that shares the read-only training data and features: learning, label
        changes and refits of either never change the other (cheaper than ``copy.deepcopy``)."""
        other = copy.copy(self)
        if hasattr(self, "descriptions_"):
            other.descriptions_ = dict(self.descriptions_)
        return other

    def params_state(self) -> dict[str, Any]:
        """The fitted parameters as plain values and numpy arrays, without the training examples:
        classes, descriptions, config, n-gram vocabularies and idf weights, flat coefficients, the
        partition and subset models, and ``n_train`` (the examples they were fitted on)."""
        self._check()
        return snapshot.classifier_params(self)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], data: TrainingSet | None = None) -> RedClassifier:
        """Rebuild from :meth:`params_state` without refitting. Without ``data`` the model scores exactly
        as the original; with ``data`` (the ``n_train`` examples it was fitted on, in learned order) it
        can also learn, refit, change labels and give nearest examples."""
        return snapshot.restore_from_params(cls, params, data)

    def to_state(self) -> dict[str, Any]:
        """A snapshot of plain values and numpy arrays (no pickled objects), training examples included."""
        self._check()
        return snapshot.classifier_state(self)

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> RedClassifier:
        """Rebuild from :meth:`to_state` without refitting any model."""
        return snapshot.restore_classifier(cls, state)
