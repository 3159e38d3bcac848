"""One drift signal in one scope: a stream of 0/1 observations watched by a river detector.

A :class:`SignalTrack` feeds every observation to its detector (ADWIN by default; Page-Hinkley or KSWIN
selectable) and keeps the last ``history`` observations. When the detector fires, the track splits its
history where the rise is most significant (the largest two-proportion z statistic between the older
and the recent part; river's detectors restart after an alarm and ADWIN's kept window need not start at
the change, so the split is the track's own; the older part has at least ``recent`` observations, four
times as many in a scope of many labels); a rise of at least ``min_effect`` (``min_effect_shared``
in a scope of many labels) is a *drift*. Anything
else (a fall, a small change) is not reported, and the recent part becomes the reference. A drifted
track reports *recovered* when its detector fires again and the rate since its best falling split is
back within ``tolerance`` of the level before the drift (a detector's alarm, not a chance dip of a
short average, so a recovery is as significant as a drift). After every alarm the detector is rebuilt
from the kept history. Nothing fires before ``min_evidence`` observations.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from redline.errors import ConfigError

#: the signals a :class:`~redline.core.drift.DriftMonitor` keeps (each a rate in [0, 1])
SIGNALS = ("rejection", "corrected", "unresolved", "uncertainty")
#: the river detectors a track may use
DETECTORS = ("adwin", "page-hinkley", "kswin")


@dataclass(frozen=True)
class DriftSettings:
    """How drift is detected.

    Parameters
    ----------
    detector : {"adwin", "page-hinkley", "kswin"}
        The river detector of every signal.
    sensitivity : float
        ADWIN's ``delta`` / KSWIN's ``alpha``: the larger, the earlier and more frequent the alarms.
    ph_threshold, ph_delta : float
        Page-Hinkley's threshold and tolerated change.
    min_evidence : int
        Observations of a signal in a scope (texts of a label, for a label) before it may alarm.
    min_effect : float
        Rise of a label's rate (after - before) for an alarm to be a drift.
    min_effect_shared : float
        The same for a scope of many labels (subset, all): a few drifting labels move it less.
    tolerance : float
        A drifted label's signal is recovered when its rate fell back to at most the level before +
        this (scaled by ``min_effect_shared / min_effect`` for a scope of many labels).
    recent : int
        Observations of the reported current level (:attr:`SignalTrack.level`); KSWIN's statistic
        window (its reference window is 4 times as long).
    history : int
        Observations kept per scope and signal (the "before" rate is their mean).
    signals : tuple of str
        The signals kept (see :data:`SIGNALS`).
    uncertainty_level : float
        The uncertainty signal is 1 for a text above this quantile of the fit-time uncertainties.
    global_scope : bool
        Also watch every signal over all labels together (alarms sooner on sparse labels; the labels
        that rose most are named).
    culprit_excess, culprit_z : float
        A label is named by a multi-label scope's drift when it has at least ``culprit_excess`` more 1s
        since the change than its own earlier rate predicts, with a binomial z score of at least
        ``culprit_z``.
    max_labels : int
        Labels named by one event at most.
    seed : int
        KSWIN's sampling seed.
    """

    detector: str = "adwin"
    sensitivity: float = 0.02
    ph_threshold: float = 20.0
    ph_delta: float = 0.05
    min_evidence: int = 30
    min_effect: float = 0.15
    min_effect_shared: float = 0.04
    tolerance: float = 0.05
    recent: int = 30
    history: int = 400
    signals: tuple[str, ...] = SIGNALS
    uncertainty_level: float = 0.8
    global_scope: bool = True
    culprit_excess: float = 3.0
    culprit_z: float = 3.0
    max_labels: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ConfigError(f"drift detector {self.detector!r}: expected one of {', '.join(DETECTORS)}")
        if not 0.0 < self.sensitivity < 1.0:
            raise ConfigError(f"drift sensitivity must lie in (0, 1), got {self.sensitivity}")
        if self.ph_threshold <= 0 or self.ph_delta < 0:
            raise ConfigError("Page-Hinkley needs threshold > 0 and delta >= 0")
        unknown = sorted(set(self.signals) - set(SIGNALS))
        if unknown or not self.signals:
            raise ConfigError(f"drift signals {unknown or '()'}: expected some of {', '.join(SIGNALS)}")
        if not 0.0 < self.min_effect <= 1.0 or not 0.0 < self.min_effect_shared <= 1.0:
            raise ConfigError("drift needs min_effect and min_effect_shared in (0, 1]")
        if not 0.0 <= self.tolerance < self.min_effect:
            raise ConfigError("drift needs 0 <= tolerance < min_effect")
        if self.min_evidence < 1 or self.recent < 2 or self.history < 2 * self.recent:
            raise ConfigError("drift needs min_evidence >= 1, recent >= 2 and history >= 2 * recent")
        if not 0.0 < self.uncertainty_level < 1.0:
            raise ConfigError(f"uncertainty_level must lie in (0, 1), got {self.uncertainty_level}")
        if self.culprit_excess <= 0 or self.culprit_z <= 0 or self.max_labels < 1:
            raise ConfigError("drift needs culprit_excess > 0, culprit_z > 0 and max_labels >= 1")

    def to_dict(self) -> dict[str, Any]:
        """As plain values."""
        return asdict(self)


def make_detector(settings: DriftSettings) -> Any:
    """A fresh river detector as ``settings`` say (river is imported here: it takes seconds)."""
    from river import drift as river_drift

    drift: Any = river_drift  # river's detectors are untyped

    if settings.detector == "adwin":
        # clock=1: check at every observation (the default checks every 32, too coarse for sparse labels)
        return drift.ADWIN(delta=settings.sensitivity, clock=1)
    if settings.detector == "page-hinkley":
        return drift.PageHinkley(
            min_instances=settings.min_evidence,
            delta=settings.ph_delta,
            threshold=settings.ph_threshold,
            mode="both",
        )
    return drift.KSWIN(
        alpha=settings.sensitivity,
        window_size=4 * settings.recent,
        stat_size=settings.recent,
        seed=settings.seed,
    )


@dataclass(frozen=True)
class TrackChange:
    """What a track reports: a drift (the rate rose) or a recovery (it came back).

    Attributes
    ----------
    kind : {"drift", "recovered"}
    before, after : float
        The rate before and after the change (for a recovery: the drifted rate and the current one).
    start : int
        Stamp of the first observation of the changed part (recovered: of the drift's first one).
    evidence : int
        Observations behind ``after``.
    """

    kind: str
    before: float
    after: float
    start: int
    evidence: int


class SignalTrack:
    """One signal of one scope (see the module docstring); ``shared``: the scope has many labels."""

    def __init__(self, settings: DriftSettings, shared: bool = False) -> None:
        self.settings = settings
        self.min_effect = settings.min_effect_shared if shared else settings.min_effect
        self.tolerance = settings.tolerance * self.min_effect / settings.min_effect
        # observations the rate before a change is measured on, at least (a small shift of many labels
        # needs a steadier reference than a label's own rise)
        self.reference = 4 * settings.recent if shared else settings.recent
        self.detector = make_detector(settings)
        self.history: deque[tuple[int, float]] = deque(maxlen=settings.history)
        self.count = 0
        self.drifted: TrackChange | None = None

    @property
    def level(self) -> float:
        """The mean of the last ``recent`` observations (0 before any)."""
        recent = list(self.history)[-self.settings.recent :]
        return sum(v for _, v in recent) / len(recent) if recent else 0.0

    def update(self, stamp: int, value: float) -> TrackChange | None:
        """Observe ``value`` (0 or 1) at ``stamp`` (the monitor's text count)."""
        s = self.settings
        self.count += 1
        self.history.append((stamp, value))
        self.detector.update(value)
        if not self.detector.drift_detected or self.count < s.min_evidence:
            return None
        values = [v for _, v in self.history]
        change: TrackChange | None = None
        if self.drifted is None:
            rise = _best_split(values, True, self.reference)
            if rise is not None and rise[2] - rise[1] >= self.min_effect:
                n, before, after = rise
                change = self.drifted = TrackChange("drift", before, after, self.history[-n][0], n)
            else:  # a fall or a small rise: the level since the change is the reference from now on
                fall = _best_split(values, False, 5)
                if fall is not None:
                    self._keep_last(max(fall[0], self.reference))
        else:
            since = [v for t, v in self.history if t >= self.drifted.start]
            fall = _best_split(since, False, 5)
            if fall is not None and fall[2] <= self.drifted.before + self.tolerance:
                change = TrackChange("recovered", self.drifted.after, fall[2], self.drifted.start, fall[0])
                self.drifted = None
                self._keep_last(max(fall[0], self.reference))
        self._reseed()
        return change

    def _keep_last(self, n: int) -> None:
        kept = list(self.history)[-n:]
        self.history.clear()
        self.history.extend(kept)

    def _reseed(self) -> None:
        """After an alarm: a fresh detector that has seen the history (river's detectors forget all
        after an alarm; the track keeps the context, e.g. a drifted level that may yet fall back)."""
        self.detector = make_detector(self.settings)
        for _, v in self.history:
            self.detector.update(v)


#: observations each side of a split, at least
_MIN_PART = 5


def _best_split(values: Sequence[float], rise: bool, min_before: int) -> tuple[int, float, float] | None:
    """Where the recent part of ``values`` rose (``rise``) or fell most significantly, with at least
    ``min_before`` observations before it: (length of the recent part, mean before, mean after) at the
    largest z statistic of the difference of means; None when too short."""
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    if n < _MIN_PART + max(min_before, _MIN_PART):
        return None
    k = np.arange(_MIN_PART, n - max(min_before, _MIN_PART) + 1)  # length of the recent part
    total = np.cumsum(v)
    before_sum = total[n - k - 1]
    before = before_sum / (n - k)
    after = (total[-1] - before_sum) / k
    p = total[-1] / n
    spread = np.sqrt(max(p * (1.0 - p), 1e-6) * (1.0 / k + 1.0 / (n - k)))
    z = (after - before) / spread
    best = int(np.argmax(z if rise else -z))
    return int(k[best]), float(before[best]), float(after[best])
