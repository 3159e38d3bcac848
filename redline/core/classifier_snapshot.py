"""A :class:`~redline.core.classifier.RedClassifier` as plain values and numpy arrays, and back.

Two forms, neither with pickled objects (:mod:`redline.adapters.snapshot_store` and
:mod:`redline.adapters.model_codec` write them):

- the *parameters* (:func:`classifier_params`): what scoring needs and nothing else: classes,
  descriptions, config, the n-gram vocabularies and idf weights, the flat softmax, the partition and
  subset models, and ``n_train``, the number of training examples they were fitted on. Every weight
  matrix sits under a key named ``coef`` (codecs may store those lossily);
- the full *state* (:func:`classifier_state`, model folders): the parameters' content plus the training
  examples. States written before the vocabularies were stored rebuild them from the texts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from redline.core.config import EngineConfig
from redline.core.features import FeatureBuilder
from redline.core.partition import LabelPartition
from redline.core.subsets import SubsetClassifier
from redline.core.training_set import TrainingSet
from redline.errors import InputDataError, ModelError

if TYPE_CHECKING:
    from redline.core.classifier import RedClassifier

#: the ``format`` field of a full classifier state (model folders)
STATE_FORMAT = "redline.RedClassifier/1"
#: the ``format`` field of classifier parameters
PARAMS_FORMAT = "redline.RedClassifier.params/1"


def classifier_params(model: RedClassifier) -> dict[str, Any]:
    """The parameters of a fitted classifier (see :meth:`RedClassifier.params_state`)."""
    params: dict[str, Any] = {
        "format": PARAMS_FORMAT,
        "config": model._cfg.to_dict(),
        "classes": model.classes_.tolist(),
        "descriptions": dict(model.descriptions_),
        "n_train": model.n_train_,
        "embedding_dim": int(model.embedding_dim_),
        "features": model.features_.to_state(),
    }
    if model.partition_ is not None:
        params["partition"] = model.partition_.to_state()
        params["subsets"] = [m.to_state() for m in model.subset_models_]
    if hasattr(model, "flat_coef_"):
        params["flat"] = {"coef": model.flat_coef_, "intercept": model.flat_intercept_}
    return params


def restore_from_params(
    make_model: Callable[[EngineConfig], RedClassifier],
    params: Mapping[str, Any],
    data: TrainingSet | None,
) -> RedClassifier:
    """Rebuild a classifier from :func:`classifier_params` (and optionally its training examples)
    without refitting any model.

    Raises
    ------
    ModelError
        Not classifier parameters, inconsistent shapes, or ``data`` that is not what they were fitted on.
    """
    if params.get("format") != PARAMS_FORMAT:
        raise ModelError(f"not RedClassifier parameters (format={params.get('format')!r})")
    try:
        return _restore(make_model, params, data)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ModelError(f"the classifier parameters are incomplete or damaged ({exc!r})") from None


def _restore(
    make_model: Callable[[EngineConfig], RedClassifier], params: Mapping[str, Any], data: TrainingSet | None
) -> RedClassifier:
    cfg = EngineConfig.from_dict(dict(params["config"]))
    model = make_model(cfg)
    model.classes_ = np.asarray([str(c) for c in params["classes"]])
    if model.classes_.size < 2 or model.classes_.tolist() != sorted(set(model.classes_.tolist())):
        raise ModelError("the parameters' classes must be at least 2 distinct labels in sorted order")
    model.descriptions_ = {str(k): str(v) for k, v in dict(params["descriptions"]).items()}
    model.embedding_dim_ = int(params["embedding_dim"])
    model._n_train = int(params["n_train"])
    model.features_ = FeatureBuilder.from_state(params["features"])
    if model.features_.kind != cfg.features:
        raise ModelError(f"features {model.features_.kind!r} do not match the config's {cfg.features!r}")
    width = model.embedding_dim_ + sum(len(v.vocabulary_) for v in model.features_.vectorizers_)
    model.partition_ = None
    model.subset_models_ = []
    if cfg.scorer in ("subsets", "hybrid"):
        model.partition_ = LabelPartition.from_state(params["partition"])
        model.subset_models_ = [SubsetClassifier.from_state(s) for s in params["subsets"]]
        placed = sorted(lab for s in model.partition_.subsets_ for lab in s)
        if placed != model.classes_.tolist() or len(model.subset_models_) != len(model.partition_.subsets_):
            raise ModelError("the partition does not hold exactly the parameters' classes")
        if any(m.coef_.shape[1] != width for m in model.subset_models_):
            raise ModelError(f"subset weights do not match the {width} features")
        model._stack()
    if cfg.scorer in ("flat", "hybrid"):
        flat = params["flat"]
        model.flat_coef_ = np.asfortranarray(flat["coef"], dtype=np.float32)  # no copy from the codec
        model.flat_intercept_ = np.asarray(flat["intercept"], dtype=np.float64)
        if model.flat_coef_.shape != (model.classes_.size, width) or model.flat_intercept_.shape != (
            model.classes_.size,
        ):
            raise ModelError(
                f"flat weights of shape {model.flat_coef_.shape}, expected ({model.classes_.size}, {width})"
            )
    if data is None and cfg.knn > 0:
        raise ModelError("the nearest-neighbour vote (knn > 0) scores with the training examples: pass data")
    if data is not None:
        _check_data(model, data)
    model.data_ = data
    model._F = None
    return model


def _check_data(model: RedClassifier, data: TrainingSet) -> None:
    if len(data) != model.n_train_:
        raise ModelError(
            f"the parameters were fitted on {model.n_train_} examples, the data has {len(data)}: "
            "pass the examples they include, in learned order, and update() with the rest"
        )
    if data.X.shape[1] != model.embedding_dim_:
        raise ModelError(
            f"data embeddings of width {data.X.shape[1]}, the model's are {model.embedding_dim_}"
        )
    unknown = sorted(set(data.y.tolist()) - set(model.classes_.tolist()))
    if unknown:
        raise ModelError(f"the data has labels the parameters do not know: {unknown[:5]}")


def classifier_state(model: RedClassifier) -> dict[str, Any]:
    """The full state of a fitted classifier (see :meth:`RedClassifier.to_state`)."""
    data = model._data("to_state")
    state: dict[str, Any] = {
        "format": STATE_FORMAT,
        "config": model._cfg.to_dict(),
        "classes": model.classes_.tolist(),
        "descriptions": dict(model.descriptions_),
        "X": data.X,
        "texts": list(data.texts),
        "y": data.y.tolist(),
        "feature_texts": model.features_.fitted_texts_,
        "features": model.features_.to_state(),
    }
    if model.partition_ is not None:
        state["partition"] = model.partition_.to_state()
        state["subsets"] = [m.to_state() for m in model.subset_models_]
    if hasattr(model, "flat_coef_"):
        state["flat_coef"], state["flat_intercept"] = model.flat_coef_, model.flat_intercept_
    return state


def restore_classifier(
    make_model: Callable[[EngineConfig], RedClassifier], state: Mapping[str, Any]
) -> RedClassifier:
    """Rebuild a classifier from :func:`classifier_state` without refitting any model (states without
    ``features`` rebuild the vocabularies from the texts they were fitted on).

    Raises
    ------
    ModelError
        The state is not a classifier state.
    """
    if state.get("format") != STATE_FORMAT:
        raise ModelError(f"not a RedClassifier snapshot (format={state.get('format')!r})")
    try:
        texts = tuple(str(t) for t in state["texts"])
        X = np.asarray(state["X"], dtype=np.float32)
        data = TrainingSet(X, texts, np.asarray([str(v) for v in state["y"]]))
    except InputDataError as exc:
        raise ModelError(f"the snapshot's training examples are inconsistent: {exc}") from None
    cfg = EngineConfig.from_dict(dict(state["config"]))
    features = state.get("features")
    if features is None:
        n_feat = int(state["feature_texts"])
        features = FeatureBuilder(cfg.features, cfg.ngram_weight).fit(texts[:n_feat]).to_state()
    params: dict[str, Any] = {
        "format": PARAMS_FORMAT,
        "config": cfg.to_dict(),
        "classes": state["classes"],
        "descriptions": state["descriptions"],
        "n_train": len(data),
        "embedding_dim": X.shape[1],
        "features": features,
    }
    if "partition" in state:
        params["partition"], params["subsets"] = state["partition"], state["subsets"]
    if "flat_coef" in state:
        params["flat"] = {"coef": state["flat_coef"], "intercept": state["flat_intercept"]}
    return restore_from_params(make_model, params, data)


def partition_without(partition: LabelPartition, label: str) -> tuple[LabelPartition, bool]:
    """A copy of ``partition`` without ``label`` (subset indices unchanged unless its subset empties,
    which is then dropped) and whether its subset emptied."""
    state = partition.to_state()
    keep = [i for i, lab in enumerate(state["labels"]) if lab != label]
    subsets = [[lab for lab in s if lab != label] for s in state["subsets"]]
    emptied = any(not s for s in subsets)
    state["subsets"] = [s for s in subsets if s]
    state["labels"] = [state["labels"][i] for i in keep]
    state["embeddings"] = np.asarray(state["embeddings"])[keep]
    return LabelPartition.from_state(state), emptied
