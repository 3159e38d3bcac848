"""Per-label judge boosts: a raised judge share for drifted labels, paid back over a longer horizon.

When drift is detected on some labels, the stream wants more judge answers about them *now* (to see
what changed and to relearn them) without breaking the global judge budget. A boost says: for the next
``texts`` texts (counted by the router), a text whose top candidate is a boosted label goes to the
judge with probability-like share ``share`` (1.0: every such text; below 1: those whose uncertainty
is above the ``1 - share`` quantile of the router's recent window).

Those extra judge calls (*escalations*) are charged to the router's budget, but not at once: they go
into a *deferred* debt that falls due gradually, a fraction ``n / horizon`` of it per ``n`` texts
(exponential release with time constant ``horizon``). What has fallen due is added to the calls the
router owes, and its payback feedback then lowers the share of every other text slightly until it is
repaid. So during a boost the realised share rises by the boost's cost, afterwards it runs a little
below target, and over a horizon several times ``horizon`` the realised share is back at the target
(``horizon=0``: escalations are repaid at once, by the ordinary payback).

This module keeps the bookkeeping (which boosts are active, the debt); :class:`BudgetedRouter
<redline.core.judge_budget.BudgetedRouter>` owns one :class:`LabelBoosts` and decides with it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from redline.errors import ConfigError

FloatArray = NDArray[np.floating]


@dataclass(frozen=True)
class Boost:
    """One label's boost: the share of its texts sent to the judge, until the router has seen
    ``until`` texts."""

    share: float
    until: int


class LabelBoosts:
    """Active boosts and the deferred judge calls they cost.

    Parameters
    ----------
    horizon : int
        Texts over which escalated judge calls fall due (the time constant of their release); 0 makes
        them due at once.
    cap : float
        At most this share of a batch is escalated (the most uncertain first): a drift that names many
        labels cannot take over the judge.
    """

    def __init__(self, horizon: int = 5000, cap: float = 0.2) -> None:
        if horizon < 0:
            raise ConfigError(f"boost horizon must be >= 0, got {horizon}")
        if not 0.0 <= cap <= 1.0:
            raise ConfigError(f"boost cap must lie in [0, 1], got {cap}")
        self.horizon = horizon
        self.cap = cap
        self.active: dict[str, Boost] = {}
        self.deferred = 0.0
        self.escalated = 0

    def add(self, labels: Iterable[str], share: float, texts: int, now: int) -> None:
        """Boost ``labels`` to ``share`` for ``texts`` texts from ``now`` (the router's count); an active
        boost of a label is extended and keeps the larger share."""
        if not 0.0 < share <= 1.0:
            raise ConfigError(f"boost share must lie in (0, 1], got {share}")
        if texts < 1:
            raise ConfigError(f"a boost lasts at least 1 text, got {texts}")
        for label in labels:
            old = self.active.get(label)
            if old is not None and old.until > now:
                self.active[label] = Boost(max(old.share, share), max(old.until, now + texts))
            else:
                self.active[label] = Boost(share, now + texts)

    def expire(self, now: int) -> None:
        """Drop the boosts that ended by ``now``."""
        for label in [lab for lab, b in self.active.items() if b.until <= now]:
            del self.active[label]

    def release(self, texts: int) -> float:
        """The part of the deferred debt that falls due over ``texts`` more texts (removed from it)."""
        if self.deferred <= 0.0 or texts <= 0:
            return 0.0
        due = self.deferred if self.horizon == 0 else self.deferred * -math.expm1(-texts / self.horizon)
        self.deferred -= due
        return due

    def select(
        self,
        labels: Sequence[str],
        unc: FloatArray,
        asked: NDArray[np.bool_],
        threshold_for: dict[float, float],
    ) -> NDArray[np.bool_]:
        """Which texts not yet ``asked`` are escalated: their top candidate ``labels[i]`` is boosted and
        their uncertainty is above the boost's threshold (``threshold_for[share]``, -inf for share 1);
        at most ``cap`` of the batch, the most uncertain first. The escalations are added to the debt."""
        u = np.asarray(unc, dtype=np.float64).ravel()
        out = np.zeros(u.size, dtype=np.bool_)
        if not self.active or u.size == 0:
            return out
        for i, label in enumerate(labels):
            boost = self.active.get(label)
            if boost is not None and not asked[i] and u[i] > threshold_for[boost.share]:
                out[i] = True
        limit = math.floor(self.cap * u.size)
        chosen = np.flatnonzero(out)
        if chosen.size > limit:
            keep = chosen[np.argsort(-u[chosen], kind="stable")[:limit]]
            out[:] = False
            out[keep] = True
        n = int(np.count_nonzero(out))
        self.escalated += n
        self.deferred += n
        return out

    def shares(self) -> set[float]:
        """The distinct shares of the active boosts."""
        return {b.share for b in self.active.values()}
