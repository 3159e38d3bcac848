"""The R.E.D. candidate walk: which label the judge is asked about next, and when a text is decided.

One set of rules, used by the offline loop (``redline evaluate``) and by the stream alike:

- a text's candidates are the model's labels ranked by probability, best first, without the labels the
  judge already rejected for it, so that at most ``max_candidates`` labels are ever asked about;
- the judge is asked about them in order; the first "yes" labels the text: *validated* when it is the
  model's top label and nothing was rejected before, *corrected* otherwise;
- a "no" moves to the next candidate; when every candidate was rejected the text is *unresolved*;
- a judge that could not answer (``valid=None``: endpoint down, unreadable answer) is not a "no": the
  walk stops with *judge_failed* and the text is neither labelled by the judge nor learned from.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from redline.errors import ConfigError

FloatArray = NDArray[np.floating]


class Outcome(enum.Enum):
    """Where a walk stands after the answers so far."""

    ASK = "ask"
    VALIDATED = "validated"
    CORRECTED = "corrected"
    UNRESOLVED = "unresolved"
    JUDGE_FAILED = "judge_failed"

    @property
    def decided(self) -> bool:
        """True when the walk is over (no further question)."""
        return self is not Outcome.ASK

    @property
    def labelled(self) -> bool:
        """True when the judge confirmed a label (the text may be learned from)."""
        return self in (Outcome.VALIDATED, Outcome.CORRECTED)


@dataclass(frozen=True)
class WalkStep:
    """The next step of a walk.

    Attributes
    ----------
    outcome : Outcome
    index : int
        Position in the candidates of the label to ask (``ASK``) or of the accepted label
        (``VALIDATED`` / ``CORRECTED``); the number of answers read otherwise.
    label : str or None
        The label to ask about or the accepted label; None when unresolved or failed.
    """

    outcome: Outcome
    index: int
    label: str | None


@dataclass(frozen=True)
class CandidateWalk:
    """The walk's rules.

    Parameters
    ----------
    max_candidates : int
        Labels the judge may be asked about per text, best first.
    """

    max_candidates: int = 5

    def __post_init__(self) -> None:
        if self.max_candidates < 1:
            raise ConfigError(f"max_candidates must be >= 1, got {self.max_candidates}")

    def candidates(
        self,
        proba: FloatArray,
        classes: Sequence[str],
        rejected: Sequence[Collection[str]] | None = None,
    ) -> list[tuple[str, ...]]:
        """Each row's labels to ask about, best first: rejected labels removed, at most
        ``max_candidates`` minus the number already rejected."""
        P = np.asarray(proba, dtype=np.float64)
        if rejected is None or not any(rejected):
            top = _top_k(P, min(self.max_candidates, P.shape[1]))
            names = np.asarray(classes)
            return [tuple(names[row].tolist()) for row in top]
        column = {c: j for j, c in enumerate(classes)}
        out = []
        for row, gone in zip(P, rejected, strict=True):
            p = row.copy()
            for label in gone:
                p[column[label]] = -1.0
            k = max(self.max_candidates - len(gone), 0)
            top = np.argsort(-p, kind="stable")[:k]
            out.append(tuple(classes[j] for j in top.tolist() if p[j] >= 0.0))
        return out

    def step(
        self, candidates: Sequence[str], answers: Sequence[bool | None], rejected_before: int = 0
    ) -> WalkStep:
        """Read the judge's ``answers`` to ``candidates`` (in order) and say what comes next.

        ``rejected_before`` counts labels rejected in earlier rounds (offline loop), which makes a later
        "yes" a correction.
        """
        for i, answer in enumerate(answers):
            if answer is None:
                return WalkStep(Outcome.JUDGE_FAILED, i, None)
            if answer:
                first = i == 0 and rejected_before == 0
                return WalkStep(Outcome.VALIDATED if first else Outcome.CORRECTED, i, candidates[i])
        n = len(answers)
        if n < len(candidates) and rejected_before + n < self.max_candidates:
            return WalkStep(Outcome.ASK, n, candidates[n])
        return WalkStep(Outcome.UNRESOLVED, n, None)


def _top_k(P: NDArray[np.float64], k: int) -> NDArray[np.intp]:
    """Each row's columns of its ``k`` largest values, largest first, ties in column order: what
    ``np.argsort(-P, axis=1, kind="stable")[:, :k]`` gives, without sorting every column.

    A partition finds the ``k`` largest; a row where a value left out equals the smallest one kept (or
    with NaN) is sorted in full. A batch of 64 rows of 1000 labels: 4.5 -> 1.3 ms.
    """
    if k >= P.shape[1]:
        return np.argsort(-P, axis=1, kind="stable")[:, :k]
    part = np.argpartition(-P, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(P, part, axis=1)
    top = np.take_along_axis(part, np.lexsort((part, -values)), axis=1)
    tied = np.flatnonzero((P >= values.min(axis=1, keepdims=True)).sum(axis=1) != k)
    if tied.size:
        top[tied] = np.argsort(-P[tied], axis=1, kind="stable")[:, :k]
    return top
