"""A judge budget for streams: route a target share of texts to the judge, whatever the uncertainties.

Offline, the judge loop spends a budget (a share of the pool) on the most uncertain texts. A stream
has no pool to rank, so :class:`BudgetedRouter` turns the target share into an uncertainty threshold
that adapts online: the ``1 - share`` quantile of a bounded sliding window of recent uncertainties,
nudged by the judge calls owed so far (``share * seen - asked``, paid back over the next ``payback``
texts) so that the realised share converges to the target even while the uncertainty distribution
shifts. Until ``prior_weight`` texts have been seen, the window is padded with the distribution
measured at fit time (:func:`held_out_uncertainty`, stored as quantiles in the model's metadata), so
the first texts are routed sensibly. An explicit fixed threshold still wins.

Drift handling raises the share of some labels for a while: :meth:`BudgetedRouter.boost` and
:meth:`BudgetedRouter.escalate` (see :mod:`redline.core.judge_boost`): the extra judge calls are charged
to the same budget, deferred over ``boost_horizon`` texts and repaid by a slightly lower share
elsewhere, so the global share holds over a horizon several times ``boost_horizon``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from redline.core.judge_boost import LabelBoosts
from redline.errors import ConfigError

FloatArray = NDArray[np.floating]

#: quantile levels at which a fit-time uncertainty distribution is summarised (0, 0.01, ..., 1)
QUANTILE_LEVELS = np.linspace(0.0, 1.0, 101)


class _Scored(Protocol):
    def uncertainty(self, kind: str) -> FloatArray: ...


class _Model(Protocol):
    def fit(self, X: FloatArray, texts: Sequence[str], y: Sequence[str]) -> Any: ...

    def predict_scores(self, X: FloatArray, texts: Sequence[str]) -> _Scored: ...


def uncertainty_quantiles(values: FloatArray) -> list[float]:
    """Summarise uncertainties as their quantiles at :data:`QUANTILE_LEVELS` (101 floats in [0, 1])."""
    u = np.asarray(values, dtype=np.float64).ravel()
    if u.size == 0 or not np.all(np.isfinite(u)):
        raise ConfigError("uncertainty quantiles need at least one finite value")
    return [round(float(q), 6) for q in np.clip(np.quantile(u, QUANTILE_LEVELS), 0.0, 1.0)]


def held_out_uncertainty(
    make_model: Callable[[], _Model],
    X: FloatArray,
    texts: Sequence[str],
    y: Sequence[str],
    kind: str,
    *,
    folds: int = 3,
    seed: int = 0,
) -> FloatArray:
    """Uncertainty of every training text scored by a model fitted without it (k-fold cross-fitting).

    In-sample uncertainties are far too low (the model has seen the texts); cross-fitted ones
    resemble those of new texts. Folds come from scikit-learn's ``StratifiedKFold`` (stratified by
    label, shuffled with ``seed``); a label with fewer than ``folds`` examples stays in every training
    part and is scored in-sample by a model fitted on everything. The same inputs and seed give the
    same result.
    """
    # deferred: scikit-learn costs about a second to import; the CLI's start-up does not need it
    from sklearn.model_selection import StratifiedKFold

    if folds < 2:
        raise ConfigError(f"folds must be >= 2, got {folds}")
    labels = np.asarray([str(v) for v in y])
    n = labels.size
    if np.asarray(X).shape[0] != n or len(texts) != n:
        raise ConfigError("X, texts and y must have the same length")
    names, counts = np.unique(labels, return_counts=True)
    # only labels with at least `folds` examples are split: StratifiedKFold would warn about the others
    split = np.flatnonzero(np.isin(labels, names[counts >= folds]))
    out = np.zeros(n, dtype=np.float64)
    scored = np.zeros(n, dtype=bool)
    if split.size:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        for _, test_part in splitter.split(np.zeros((split.size, 1)), labels[split]):
            test = split[test_part]
            in_test = np.zeros(n, dtype=bool)
            in_test[test] = True
            train = np.flatnonzero(~in_test)
            model = make_model()
            model.fit(X[train], [texts[i] for i in train.tolist()], labels[train].tolist())
            out[test] = model.predict_scores(X[test], [texts[i] for i in test.tolist()]).uncertainty(kind)
            scored[test] = True
    if not scored.all():  # rare labels: score them with a model fitted on everything
        rest = np.flatnonzero(~scored)
        model = make_model()
        model.fit(X, list(texts), labels.tolist())
        out[rest] = model.predict_scores(X[rest], [texts[i] for i in rest.tolist()]).uncertainty(kind)
    return np.clip(out, 0.0, 1.0)


@dataclass(frozen=True)
class BudgetState:
    """What a :class:`BudgetedRouter` has done so far (for a stats page)."""

    target_share: float | None
    threshold: float
    seen: int
    asked: int
    window: int
    prior: bool
    boosted: tuple[str, ...] = ()
    escalated: int = 0
    deferred: float = 0.0

    @property
    def share(self) -> float:
        """Realised share of texts sent to the judge (0 before any text)."""
        return self.asked / self.seen if self.seen else 0.0


class BudgetedRouter:
    """Send about ``share`` of the texts, the most uncertain, to the judge; accept the rest.

    Parameters
    ----------
    share : float
        Target share of texts routed to the judge, in [0, 1].
    window : int
        Recent uncertainties the threshold is the quantile of (bounded memory; smaller adapts faster).
    prior : sequence of float or None
        Fit-time uncertainty quantiles (:func:`uncertainty_quantiles`); None: the first batch is
        routed by its own quantile.
    prior_weight : int
        The prior counts as this many observations: it pads the window up to ``min(prior_weight,
        window)`` values and is gone once that many texts have been seen.
    fixed_threshold : float or None
        When set, texts with uncertainty at or above it are asked and ``share`` is ignored.
    payback : int
        Judge calls owed (``share * seen - asked``; negative when overspent) are paid back over about
        this many texts: ``owed / payback`` is added to the quantile's share. 0 disables the feedback.
    boost_horizon : int
        Judge calls escalated by label boosts (:meth:`boost`) fall due over about this many texts and
        are then repaid by the payback feedback; 0: at once.
    boost_cap : float
        At most this share of a batch is escalated by boosts.
    """

    def __init__(
        self,
        share: float = 0.2,
        window: int = 2000,
        prior: Sequence[float] | None = None,
        fixed_threshold: float | None = None,
        prior_weight: int = 100,
        payback: int = 100,
        boost_horizon: int = 5000,
        boost_cap: float = 0.2,
    ) -> None:
        self.share = share
        self.window = window
        self.prior = prior
        self.fixed_threshold = fixed_threshold
        self.prior_weight = prior_weight
        self.payback = payback
        self._check()
        self.recent_: deque[float] = deque(maxlen=window)
        self.seen_ = 0
        self.asked_ = 0
        self.threshold_ = self._initial_threshold()
        self.boosts_ = LabelBoosts(boost_horizon, boost_cap)

    def _check(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ConfigError(f"judge share must lie in [0, 1], got {self.share}")
        if self.window < 1:
            raise ConfigError(f"window must be >= 1, got {self.window}")
        if self.fixed_threshold is not None and not 0.0 <= self.fixed_threshold <= 1.0:
            raise ConfigError(f"threshold must lie in [0, 1], got {self.fixed_threshold}")
        if self.prior_weight < 1:
            raise ConfigError(f"prior_weight must be >= 1, got {self.prior_weight}")
        if self.payback < 0:
            raise ConfigError(f"payback must be >= 0, got {self.payback}")
        if self.prior is not None:
            q = np.asarray(self.prior, dtype=np.float64)
            if q.ndim != 1 or q.size < 2 or not np.all(np.isfinite(q)) or np.any(np.diff(q) < 0):
                raise ConfigError("prior must be at least 2 finite, non-decreasing uncertainty quantiles")

    def _initial_threshold(self) -> float:
        if self.fixed_threshold is not None:
            return float(self.fixed_threshold)
        if self.prior is None:
            return 1.0
        return self._quantile(np.asarray([], dtype=np.float64), self.share)

    def _quantile(self, live: FloatArray, share: float) -> float:
        """The ``1 - share`` quantile of the live window padded with the prior (while it counts)."""
        pool = live
        missing = min(self.prior_weight, self.window) - live.size
        if self.prior is not None and missing > 0:
            prior = np.asarray(self.prior, dtype=np.float64)
            levels = np.linspace(0.0, 1.0, prior.size)
            pad = np.interp((np.arange(missing) + 0.5) / missing, levels, prior)
            pool = np.concatenate([live, pad])
        return float(np.quantile(pool, 1.0 - share, method="linear"))

    def _budget_share(self) -> float:
        """The target share plus the correction for judge calls owed (or overspent) so far; escalated
        calls whose payment is still deferred do not count yet."""
        if self.payback == 0:
            return self.share
        owed = self.share * self.seen_ - self.asked_ + self.boosts_.deferred
        return float(np.clip(self.share + owed / self.payback, 0.0, 1.0))

    def ask(self, unc: FloatArray) -> NDArray[np.bool_]:
        """Which texts of a batch, given their uncertainties ``unc``, go to the judge (True) or are
        accepted (False); the threshold is updated from the batch first."""
        u = np.asarray(unc, dtype=np.float64).ravel()
        self.boosts_.release(u.size)
        self.boosts_.expire(self.seen_)
        if self.fixed_threshold is None and u.size:
            self.recent_.extend(u.tolist())
            share = self._budget_share()
            if share <= 0.0:
                self.threshold_ = float("inf")
            elif share >= 1.0:
                self.threshold_ = float("-inf")
            else:
                self.threshold_ = self._quantile(np.asarray(self.recent_, dtype=np.float64), share)
        asked = u >= self.threshold_ if self.fixed_threshold is not None else u > self.threshold_
        self.seen_ += u.size
        self.asked_ += int(np.count_nonzero(asked))
        return np.asarray(asked, dtype=np.bool_)

    def boost(self, labels: Iterable[str], share: float = 1.0, texts: int = 1000) -> None:
        """Raise the judge share of texts whose top candidate is one of ``labels`` to ``share`` for the
        next ``texts`` texts (drift handling); applied by :meth:`escalate`."""
        self.boosts_.add(labels, share, texts, self.seen_)

    def escalate(self, labels: Sequence[str], unc: FloatArray, asked: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """After :meth:`ask`: which of the batch's texts not ``asked`` also go to the judge because
        their top candidate ``labels[i]`` is boosted (True). They count as asked; their cost is
        deferred over ``boost_horizon`` texts, then repaid by a lower share elsewhere."""
        u = np.asarray(unc, dtype=np.float64).ravel()
        was_asked = np.asarray(asked, dtype=np.bool_).ravel()
        if len(labels) != u.size or was_asked.size != u.size:
            raise ConfigError(f"{len(labels)} labels, {u.size} uncertainties and {was_asked.size} flags")
        self.boosts_.expire(self.seen_ - u.size)  # the batch counts from where it started
        if not self.boosts_.active:
            return np.zeros(u.size, dtype=np.bool_)
        recent = np.asarray(self.recent_, dtype=np.float64)
        thresholds = {
            s: float("-inf") if s >= 1.0 or recent.size == 0 else float(np.quantile(recent, 1.0 - s))
            for s in self.boosts_.shares()
        }
        out = self.boosts_.select(labels, u, was_asked, thresholds)
        self.asked_ += int(np.count_nonzero(out))
        return out

    def retarget(self, share: float, fixed_threshold: float | None) -> None:
        """Change the target share or the fixed threshold (an operator's policy change); the window of
        recent uncertainties and the counters are kept, so the budget adapts from where it stands."""
        previous = (self.share, self.fixed_threshold)
        self.share, self.fixed_threshold = share, fixed_threshold
        try:
            self._check()
        except ConfigError:
            self.share, self.fixed_threshold = previous
            raise
        if fixed_threshold is not None or not self.recent_:
            self.threshold_ = self._initial_threshold()
        # else: the next batch recomputes the threshold from the window before it routes anything

    def state(self) -> BudgetState:
        """Counters and the current threshold."""
        return BudgetState(
            target_share=None if self.fixed_threshold is not None else self.share,
            threshold=self.threshold_,
            seen=self.seen_,
            asked=self.asked_,
            window=len(self.recent_),
            prior=self.prior is not None,
            boosted=tuple(sorted(self.boosts_.active)),
            escalated=self.boosts_.escalated,
            deferred=self.boosts_.deferred,
        )
