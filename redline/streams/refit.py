"""Full refits of the leader's model, in a child process (a refit holds the GIL for seconds)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from redline.core.classifier import RedClassifier
from redline.core.training_set import TrainingSet
from redline.streams.example_store import TrainingRows


def refit_params(
    params: Mapping[str, Any], X: np.ndarray, texts: list[str], labels: list[str]
) -> dict[str, Any]:
    """A full refit of a model on its data, in a child process: the new parameters."""
    model = RedClassifier.from_params(params, TrainingSet(X, tuple(texts), np.asarray(labels)))
    model.refit()
    return model.params_state()


def training_set(rows: TrainingRows) -> TrainingSet:
    """The examples of ``rows`` as a model's training data."""
    return TrainingSet(rows.X, rows.texts, np.asarray(rows.labels))
