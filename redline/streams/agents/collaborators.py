"""The outside things the agents call, as module attributes tests can replace.

The worker command fills these in at start-up (:func:`install`); unit tests assign fakes with
``monkeypatch.setattr(collaborators, "embedder", ...)``. Agents read them at call time, never at
import time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from redline.core.judge_interface import Judge
from redline.core.uncertainty import Route, RoutingPolicy


class TextEmbedder(Protocol):
    """Anything with ``encode(texts) -> (n, d) float32`` (see :mod:`redline.adapters.embedder`)."""

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class ScoringModel(Protocol):
    """A fitted classifier: ``classes_`` and ``score(X, texts)`` (``redline.core.classifier.RedClassifier``).

    ``score`` returns an object with ``proba`` (n, n_classes) and ``uncertainty(kind) -> (n,)``.
    """

    classes_: Any

    def score(self, X: np.ndarray, texts: Sequence[str]) -> Any: ...


class Router(Protocol):
    """Routes scored texts: ``RoutingPolicy`` (fixed threshold) or ``BudgetedRouter`` (judge budget)."""

    def route(self, proba: np.ndarray, classes: Sequence[str], unc: np.ndarray) -> list[Route]: ...


class ExampleLookup(Protocol):
    """Training examples of a label nearest to an embedding, most similar first (RedClassifier has it)."""

    def nearest_examples(self, x: np.ndarray, label: str, k: int) -> list[str]: ...


#: turns texts into normalised embeddings
embedder: TextEmbedder | None = None
#: scores embeddings; None until a model is loaded
model: ScoringModel | None = None
#: identifies ``model`` on every record it produced
model_version: str = "none"
#: uncertainty measure of the model ("margin" or "entropy", see redline.core.uncertainty)
uncertainty_kind: str = "margin"
#: accept / ask decisions: the worker installs a judge budget (redline.core.judge_budget.BudgetedRouter)
policy: Router = RoutingPolicy()
#: the yes/no judge; None means uncertain texts end unresolved
judge: Judge | None = None
#: the judge's spec, recorded on every verdict ("simulated:0.95", "openai:...")
judge_name: str = "none"
#: nearest training examples shown to the judge (None: no examples)
examples: ExampleLookup | None = None
#: label descriptions shown to the judge
descriptions: Mapping[str, str] = {}
#: how many nearest examples the judge sees per label
context_examples: int = 5


def install(**values: Any) -> None:
    """Set several collaborators at once (unknown names are an error)."""
    module = globals()
    for name, value in values.items():
        if name not in _NAMES:
            raise AttributeError(f"no collaborator named {name!r}")
        module[name] = value


_NAMES = frozenset(
    {
        "embedder",
        "model",
        "model_version",
        "uncertainty_kind",
        "policy",
        "judge",
        "judge_name",
        "examples",
        "descriptions",
        "context_examples",
    }
)
