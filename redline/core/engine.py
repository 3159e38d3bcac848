"""The worker's decision engine: everything a stream worker decides with, as one object without I/O.

:class:`StreamEngine` holds the fitted model and its version, the router (judge budget), the candidate
walk, the label descriptions and how many training examples the judge is shown. It

- scores a batch of embedded texts into :class:`Decision` s (accept, ask the judge, unresolved), with
  the judge's context (description + nearest training examples) for every candidate it may ask about;
- reads the judge's answers so far into the next :class:`~redline.core.candidate_walk.WalkStep`;
- learns new examples and adds labels *copy-on-write*: :meth:`learn` and :meth:`add_label` return a
  new engine and leave this one untouched, so a worker swaps engines with one assignment while batches
  in flight finish with the engine they started with.

Embeddings are passed in, never computed here; the router is the worker's (its sliding window and
counters carry over to the engines that :meth:`learn` returns).
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import NDArray

from redline.core.candidate_walk import CandidateWalk, WalkStep
from redline.core.classifier import RedClassifier
from redline.core.judge_budget import BudgetedRouter
from redline.errors import ConfigError, ModelError

FloatArray = NDArray[np.floating]

#: the format tag of :meth:`StreamEngine.to_state`
STATE_FORMAT = "redline.StreamEngine/1"
#: the reason of a decision sent to the judge only because its top label's judge share is boosted
#: (drift handling, :meth:`BudgetedRouter.boost <redline.core.judge_budget.BudgetedRouter.boost>`)
ESCALATED = "drift boost"


class Action(enum.Enum):
    """What happens to a scored text."""

    ACCEPT = "accept"
    ASK = "judge"
    UNRESOLVED = "unresolved"


@dataclass(frozen=True)
class RankedLabel:
    """A candidate label and the model's probability for it (clipped to [0, 1])."""

    label: str
    p: float


@dataclass(frozen=True)
class LabelContext:
    """What the judge is shown about one candidate label."""

    label: str
    description: str
    examples: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    """The engine's decision on one text.

    Attributes
    ----------
    action : Action
    candidates : tuple of RankedLabel
        The labels the judge may be asked about, best first (the model's top labels).
    uncertainty : float
        The model's uncertainty in [0, 1] (the measure of the model's config).
    label : str or None
        The accepted label (``ACCEPT`` only).
    contexts : tuple of LabelContext
        One per candidate (``ASK`` only).
    reason : str
        Why the text is unresolved; :data:`ESCALATED` for a text asked only because of a drift boost.
    """

    action: Action
    candidates: tuple[RankedLabel, ...]
    uncertainty: float
    label: str | None = None
    contexts: tuple[LabelContext, ...] = ()
    reason: str = ""

    @property
    def confidence(self) -> float:
        """The model's probability of the accepted label (of the top candidate otherwise)."""
        for c in self.candidates:
            if c.label == self.label:
                return c.p
        return self.candidates[0].p if self.candidates else 0.0


@dataclass(frozen=True)
class JudgePolicy:
    """How much the judge is asked, and what it is shown (``set_policy`` changes it at run time).

    Parameters
    ----------
    judge_share : float
        Target share of texts sent to the judge (the judge budget), in [0, 1].
    threshold : float or None
        A fixed uncertainty threshold instead of the budget (texts at or above it are asked).
    max_candidates : int
        Labels the judge may be asked about per text, best first.
    context_examples : int
        Nearest training examples of a label shown to the judge.
    """

    judge_share: float = 0.2
    threshold: float | None = None
    max_candidates: int = 5
    context_examples: int = 3

    def __post_init__(self) -> None:
        if not 0.0 <= self.judge_share <= 1.0:
            raise ConfigError(f"judge_share must lie in [0, 1], got {self.judge_share}")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold must lie in [0, 1], got {self.threshold}")
        if not 1 <= self.max_candidates <= 50:
            raise ConfigError(f"max_candidates must lie in [1, 50], got {self.max_candidates}")
        if not 0 <= self.context_examples <= 20:
            raise ConfigError(f"context_examples must lie in [0, 20], got {self.context_examples}")

    def to_dict(self) -> dict[str, Any]:
        """As plain values (``set_policy`` keys)."""
        return {
            "judge_share": self.judge_share,
            "threshold": self.threshold,
            "max_candidates": self.max_candidates,
            "context_examples": self.context_examples,
        }


@dataclass(frozen=True)
class ExampleIndex:
    """Labelled examples the judge is shown (texts and their embeddings), grouped by label.

    A worker's examples can come from its model's training data (:meth:`of_model`) or from the
    examples topic; the index is immutable, so a batch keeps the one it started with.

    Attributes
    ----------
    X : ndarray of shape (n_examples, dimension)
        The embeddings, each label's rows together (in the order they were given).
    texts : tuple of str
        The texts, in the same order.
    spans : mapping of str to (int, int)
        Each label's rows: ``X[start:stop]``.
    """

    X: NDArray[np.float32]
    texts: tuple[str, ...]
    spans: Mapping[str, tuple[int, int]]

    @classmethod
    def build(cls, X: FloatArray, texts: Sequence[str], labels: Sequence[str]) -> ExampleIndex:
        """Index ``texts`` (row-aligned with embeddings ``X``) by ``labels``."""
        y = np.asarray([str(v) for v in labels])
        if not y.size:
            return cls(np.zeros((0, 0), np.float32), (), {})
        order = np.argsort(y, kind="stable")
        grouped = y[order]
        bounds = [0, *(np.flatnonzero(grouped[1:] != grouped[:-1]) + 1).tolist(), len(y)]
        spans = {str(grouped[a]): (a, b) for a, b in pairwise(bounds)}
        matrix = np.asarray(X, dtype=np.float32).reshape(len(y), -1)[order]
        return cls(np.ascontiguousarray(matrix), tuple(str(texts[i]) for i in order.tolist()), spans)

    @classmethod
    def of_model(cls, model: RedClassifier) -> ExampleIndex:
        """The training examples of ``model``."""
        return cls.build(model.X_, model.texts_, model.y_.tolist())

    def __len__(self) -> int:
        return len(self.texts)

    def nearest(
        self, X: FloatArray, candidates: Sequence[Sequence[str]], k: int
    ) -> list[tuple[tuple[str, ...], ...]]:
        """For each row of ``X`` and each of its ``candidates``, the ``k`` texts of that label most
        similar to the row (dot product; one per example, ties in the order given).

        One product per label asked about, with that label's rows only: against every example at once,
        a batch of 1000-label questions multiplied 30,000 rows where it needed ~150 per question.
        """
        found: list[list[tuple[str, ...]]] = [[()] * len(labels) for labels in candidates]
        asked: dict[str, list[tuple[int, int]]] = {}
        if k > 0 and len(self):
            for i, labels in enumerate(candidates):
                for j, label in enumerate(labels):
                    if label in self.spans:
                        asked.setdefault(label, []).append((i, j))
        rows = np.asarray(X, dtype=np.float32)
        for label, where in asked.items():
            start, stop = self.spans[label]
            sims = rows[[i for i, _ in where]] @ self.X[start:stop].T
            picked = np.argsort(-sims, axis=1, kind="stable")[:, :k] + start
            for (i, j), best in zip(where, picked.tolist(), strict=True):
                found[i][j] = tuple(self.texts[b] for b in best)
        return [tuple(texts) for texts in found]


class StreamEngine:
    """What a worker decides with.

    Parameters
    ----------
    model : RedClassifier
        A fitted model (never changed by the engine).
    version : str
        Identifies ``model`` on every record it produced.
    router : BudgetedRouter
        Decides which texts go to the judge (judge budget or fixed threshold); the worker's, shared by
        the engines that follow this one.
    policy : JudgePolicy
        Judge share / threshold, candidates per text, examples shown to the judge. The router is
        retargeted to it.
    examples : ExampleIndex, optional
        The examples the judge is shown; default: the model's training data.
    judge_available : bool
        False when no judge is configured: texts the router would send to it end unresolved.
    """

    def __init__(
        self,
        model: RedClassifier,
        version: str,
        router: BudgetedRouter,
        policy: JudgePolicy | None = None,
        *,
        examples: ExampleIndex | None = None,
        judge_available: bool = True,
    ) -> None:
        if not hasattr(model, "classes_"):
            raise ModelError("the engine needs a fitted model")
        self.model = model
        self.version = version
        self.router = router
        self.policy = policy if policy is not None else JudgePolicy()
        if (router.share, router.fixed_threshold) != (self.policy.judge_share, self.policy.threshold):
            router.retarget(self.policy.judge_share, self.policy.threshold)
        self.walk = CandidateWalk(self.policy.max_candidates)
        self.examples = examples if examples is not None else ExampleIndex.of_model(model)
        self.judge_available = judge_available
        self.classes: list[str] = [str(c) for c in model.classes_]
        self.uncertainty_kind = model.config.uncertainty if model.config is not None else "margin"

    # -- reading -------------------------------------------------------------------------------
    @property
    def descriptions(self) -> Mapping[str, str]:
        """Label descriptions shown to the judge."""
        return dict(getattr(self.model, "descriptions_", {}))

    def decide(self, X: FloatArray, texts: Sequence[str]) -> list[Decision]:
        """Score a batch of embedded texts and decide each: accept, ask the judge, or unresolved."""
        if len(texts) == 0:
            return []
        scores = self.model.predict_scores(X, texts)
        proba = np.clip(np.asarray(scores.proba, dtype=np.float64), 0.0, 1.0)
        unc = np.clip(np.asarray(scores.uncertainty(self.uncertainty_kind), dtype=np.float64), 0.0, 1.0)
        ranked = self.walk.candidates(proba, self.classes)
        column = {c: j for j, c in enumerate(self.classes)}
        asked = self.router.ask(unc)
        escalated = np.zeros(asked.shape, dtype=np.bool_)
        if self.judge_available:  # a drifting label's texts: more of them go to the judge for a while
            escalated = self.router.escalate([labels[0] for labels in ranked], unc, asked)
            asked = asked | escalated
        ask_rows = np.flatnonzero(asked) if self.judge_available else np.zeros(0, dtype=np.int64)
        contexts = self.contexts(np.asarray(X)[ask_rows], [ranked[i] for i in ask_rows.tolist()])
        context_of = dict(zip(ask_rows.tolist(), contexts, strict=True))
        out = []
        for i, (labels, u) in enumerate(zip(ranked, unc.tolist(), strict=True)):
            cands = tuple(RankedLabel(lab, float(proba[i, column[lab]])) for lab in labels)
            if not asked[i]:
                out.append(Decision(Action.ACCEPT, cands, u, label=labels[0]))
            elif i in context_of:
                reason = ESCALATED if escalated[i] else ""
                out.append(Decision(Action.ASK, cands, u, contexts=context_of[i], reason=reason))
            else:
                out.append(Decision(Action.UNRESOLVED, cands, u, reason="uncertain and no judge configured"))
        return out

    def contexts(self, X: FloatArray, candidates: Sequence[Sequence[str]]) -> list[tuple[LabelContext, ...]]:
        """For each row of ``X``, the judge's context of each of its candidate labels: the label's
        description and its ``context_examples`` training texts nearest to the row
        (:meth:`ExampleIndex.nearest`, one product per label for the batch)."""
        descriptions = self.descriptions
        examples = self.examples.nearest(X, candidates, self.policy.context_examples)
        return [
            tuple(
                LabelContext(label, descriptions.get(label, ""), texts)
                for label, texts in zip(labels, found, strict=True)
            )
            for labels, found in zip(candidates, examples, strict=True)
        ]

    def step(self, candidates: Sequence[str], answers: Sequence[bool | None]) -> WalkStep:
        """The next step of a text's candidate walk given the judge's answers so far."""
        return self.walk.step(candidates, answers)

    # -- changing (copy-on-write) --------------------------------------------------------------
    def learn(self, X: FloatArray, texts: Sequence[str], labels: Sequence[str], version: str) -> StreamEngine:
        """A new engine whose model also learned ``(X, texts, labels)`` (judge-confirmed examples)."""
        model = copy.deepcopy(self.model)
        model.learn(X, texts, labels)
        return self._with(model, version)

    def add_label(
        self, label: str, X: FloatArray, texts: Sequence[str], description: str, version: str
    ) -> StreamEngine:
        """A new engine whose model knows one more label, learned from ``(X, texts)``."""
        model = copy.deepcopy(self.model)
        model.add_label(label, X, texts, description=description)
        return self._with(model, version)

    def with_model(
        self,
        model: RedClassifier,
        version: str,
        policy: JudgePolicy | None = None,
        examples: ExampleIndex | None = None,
    ) -> StreamEngine:
        """A new engine deciding with another model (a published snapshot), the same router; the
        policy and the examples stay unless given."""
        return StreamEngine(
            model,
            version,
            self.router,
            policy if policy is not None else self.policy,
            examples=examples,
            judge_available=self.judge_available,
        )

    def with_policy(self, policy: JudgePolicy) -> StreamEngine:
        """A new engine with another judge policy (same model, examples and router)."""
        return StreamEngine(
            self.model,
            self.version,
            self.router,
            policy,
            examples=self.examples,
            judge_available=self.judge_available,
        )

    def _with(self, model: RedClassifier, version: str) -> StreamEngine:
        return self.with_model(model, version)

    # -- state ---------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """The model's state, version and policy (the router is the worker's)."""
        return {
            "format": STATE_FORMAT,
            "version": self.version,
            "policy": self.policy.to_dict(),
            "model": self.model.to_state(),
        }

    @classmethod
    def from_state(
        cls, state: Mapping[str, Any], router: BudgetedRouter, *, judge_available: bool = True
    ) -> StreamEngine:
        """Rebuild from :meth:`to_state` (no model is refitted)."""
        if state.get("format") != STATE_FORMAT:
            raise ModelError(f"not a StreamEngine state (format={state.get('format')!r})")
        model = RedClassifier.from_state(state["model"])
        policy = JudgePolicy(**dict(state["policy"]))
        return cls(model, str(state["version"]), router, policy, judge_available=judge_available)
