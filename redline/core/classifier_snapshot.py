"""A :class:`~redline.core.classifier.RedClassifier` as plain values and numpy arrays, and back.

No pickled objects: the state is what :mod:`redline.adapters.snapshot_store` writes as a JSON
manifest plus arrays. Restoring refits nothing except the n-gram vocabularies (rebuilt from the
texts they were fitted on).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from redline.core.config import EngineConfig
from redline.core.features import FeatureBuilder
from redline.core.partition import LabelPartition
from redline.core.subsets import SubsetClassifier
from redline.errors import ModelError

if TYPE_CHECKING:
    from redline.core.classifier import RedClassifier

#: the ``format`` field of a classifier state
STATE_FORMAT = "redline.RedClassifier/1"


def classifier_state(model: RedClassifier) -> dict[str, Any]:
    """The state of a fitted classifier (see :meth:`RedClassifier.to_state`)."""
    state: dict[str, Any] = {
        "format": STATE_FORMAT,
        "config": model._cfg.to_dict(),
        "classes": model.classes_.tolist(),
        "descriptions": dict(model.descriptions_),
        "X": model.X_,
        "texts": list(model.texts_),
        "y": model.y_.tolist(),
        "feature_texts": model.features_.fitted_texts_,
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
    """Rebuild a classifier from :func:`classifier_state` without refitting any model.

    Parameters
    ----------
    make_model : callable
        Builds the unfitted classifier from the state's configuration (the class itself).
    state : mapping
        What :func:`classifier_state` returned.

    Raises
    ------
    ModelError
        The state is not a classifier state.
    """
    if state.get("format") != STATE_FORMAT:
        raise ModelError(f"not a RedClassifier snapshot (format={state.get('format')!r})")
    cfg = EngineConfig.from_dict(dict(state["config"]))
    model = make_model(cfg)
    model.classes_ = np.asarray([str(c) for c in state["classes"]])
    model.descriptions_ = dict(state["descriptions"])
    model.X_ = np.asarray(state["X"], dtype=np.float32)
    model.texts_ = [str(t) for t in state["texts"]]
    model.y_ = np.asarray([str(v) for v in state["y"]])
    n_feat = int(state["feature_texts"])
    model.features_ = FeatureBuilder(cfg.features, cfg.ngram_weight).fit(model.texts_[:n_feat])
    model._F = model.features_.transform(model.X_, model.texts_)
    model.partition_ = None
    model.subset_models_ = []
    if "partition" in state:
        model.partition_ = LabelPartition.from_state(state["partition"])
        model.subset_models_ = [SubsetClassifier.from_state(s) for s in state["subsets"]]
        model._stack()
    if "flat_coef" in state:
        model.flat_coef_ = np.asarray(state["flat_coef"], dtype=np.float32)
        model.flat_intercept_ = np.asarray(state["flat_intercept"], dtype=np.float64)
    return model
