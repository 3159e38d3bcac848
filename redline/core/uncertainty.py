"""Uncertainty measures and the routing policy (accept / ask the judge / unresolved)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from redline.errors import ConfigError

FloatArray = NDArray[np.floating]


def normalised_entropy(proba: FloatArray) -> FloatArray:
    """Entropy of each row divided by log(K): 0 = certain, 1 = uniform."""
    P = np.asarray(proba, dtype=np.float64)
    K = P.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        H = -np.where(P > 0, P * np.log(P), 0.0).sum(axis=1)
    return np.asarray(H / np.log(max(K, 2)))


def margin_uncertainty(proba: FloatArray) -> FloatArray:
    """1 - (p_top1 - p_top2): 0 = one clear winner, 1 = a tie."""
    P = np.asarray(proba, dtype=np.float64)
    if P.shape[1] < 2:
        return np.zeros(P.shape[0])
    top2 = -np.partition(-P, 1, axis=1)[:, :2]
    return np.asarray(1.0 - (top2[:, 0] - top2[:, 1]))


def uncertainty(proba: FloatArray, kind: str) -> FloatArray:
    """Dispatch to :func:`normalised_entropy` (``"entropy"``) or :func:`margin_uncertainty` (``"margin"``)."""
    if kind == "entropy":
        return normalised_entropy(proba)
    if kind == "margin":
        return margin_uncertainty(proba)
    raise ConfigError(f"unknown uncertainty {kind!r}")


def ranked_candidates(proba: FloatArray, classes: Sequence[str], k: int) -> list[list[str]]:
    """The ``k`` most probable labels of each row, best first."""
    P = np.asarray(proba)
    k = min(k, P.shape[1])
    top = np.argsort(-P, axis=1, kind="stable")[:, :k]
    cls = np.asarray(classes)
    return [cls[row].tolist() for row in top]


class Action(enum.Enum):
    """What happens to one prediction."""

    ACCEPT = "accept"
    ASK = "ask"
    UNRESOLVED = "unresolved"


@dataclass(frozen=True)
class Route:
    """A routing decision: the action, the label if accepted, and the candidates to ask in order."""

    action: Action
    label: str | None
    candidates: tuple[str, ...]
    uncertainty: float


@dataclass(frozen=True)
class RoutingPolicy:
    """Accept confident predictions; send the rest to the judge with ordered candidates.

    Parameters
    ----------
    accept_below : float
        Predictions with uncertainty below this are accepted.
    max_candidates : int
        Labels offered to the judge, best first.
    """

    accept_below: float = 0.2
    max_candidates: int = 5

    def route(self, proba: FloatArray, classes: Sequence[str], unc: FloatArray) -> list[Route]:
        """Route each row of ``proba`` given its uncertainty ``unc``."""
        cands = ranked_candidates(proba, classes, self.max_candidates)
        out = []
        for c, u in zip(cands, np.asarray(unc).tolist(), strict=True):
            if u < self.accept_below:
                out.append(Route(Action.ACCEPT, c[0], tuple(c), float(u)))
            else:
                out.append(Route(Action.ASK, None, tuple(c), float(u)))
        return out

    @staticmethod
    def resolve(route: Route, verdicts: Sequence[bool | None]) -> Route:
        """Apply the judge's answers (in candidate order): the first yes is accepted; all no -> unresolved."""
        for cand, v in zip(route.candidates, verdicts, strict=False):
            if v is True:
                return Route(Action.ACCEPT, cand, route.candidates, route.uncertainty)
        if len(verdicts) >= len(route.candidates):
            return Route(Action.UNRESOLVED, None, route.candidates, route.uncertainty)
        return route
