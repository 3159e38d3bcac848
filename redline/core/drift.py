"""Drift detection on the stream's results: per-label signals, a river detector each, drift events.

Every finished text is one :class:`TextOutcome` (its top candidate, how it ended, its uncertainty).
:class:`DriftMonitor` turns it into observations of four rates (:data:`~redline.core.drift_signals.SIGNALS`):

``rejection``
    the judge rejected the model's top candidate (judged texts; keyed by the top candidate);
``corrected``
    the judge confirmed a lower candidate instead of the top one (confirmed texts; keyed by the
    confirmed label: the label whose incoming texts the model no longer recognises);
``unresolved``
    the judge rejected every candidate (judged texts; keyed by the top candidate);
``uncertainty``
    the text's uncertainty is above the fit-time ``uncertainty_level`` quantile (every text; keyed by
    the top candidate; about ``1 - level`` on texts like the training data).

Each rate is watched in each *scope* it belongs to: its label, the label's subset when the scorer uses
subsets (:meth:`DriftMonitor.set_groups`), and all labels together (``global_scope``: sparse labels
alarm sooner there; the event names the labels whose rate rose most since the change, and waits until
some label is named; while the scope stays drifted, further ``drift`` events name more labels as
their evidence grows). Texts judged
only because a drift boost escalated them (``escalated``) are left out of the judged rates: they are
not the sample the rates were learned on.

The monitor is pure and synchronous; the stream calls :meth:`DriftMonitor.observe` per result and acts
on the :class:`DriftEvent` s it returns: raise the judge share of the named labels for a while
(:meth:`BudgetedRouter.boost <redline.core.judge_budget.BudgetedRouter.boost>`) and relearn them from
their recent judge-confirmed examples (:func:`examples_to_relearn`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from redline.core.candidate_walk import Outcome
from redline.core.drift_signals import DriftSettings, SignalTrack, TrackChange
from redline.errors import ConfigError

#: the scope of all labels together
ALL = "all"
_JUDGED = (Outcome.VALIDATED, Outcome.CORRECTED, Outcome.UNRESOLVED)
#: uncertainties kept to calibrate the uncertainty signal when no fit-time quantiles are given
_CALIBRATION = 200


@dataclass(frozen=True)
class TextOutcome:
    """How one text ended, as the drift monitor reads it.

    Parameters
    ----------
    top_label : str
        The model's top candidate.
    outcome : Outcome or None
        The candidate walk's end (VALIDATED / CORRECTED / UNRESOLVED / JUDGE_FAILED); None when the
        model's label was accepted without the judge.
    uncertainty : float
        The model's uncertainty, in [0, 1]; NaN when unknown (no uncertainty observation).
    label : str or None
        The confirmed label (VALIDATED / CORRECTED).
    top_rejected : bool or None
        Whether the judge rejected the top candidate; None: derived from ``outcome`` (corrected and
        unresolved walks start with a "no" to the top candidate).
    escalated : bool
        The text went to the judge only because a drift boost escalated it.
    version : str
        The model version that scored it (copied onto events).
    """

    top_label: str
    outcome: Outcome | None
    uncertainty: float
    label: str | None = None
    top_rejected: bool | None = None
    escalated: bool = False
    version: str = ""

    def rejected(self) -> bool | None:
        """Whether the top candidate was rejected (None: not asked, or the judge failed)."""
        if self.top_rejected is not None:
            return self.top_rejected
        if self.outcome in (Outcome.CORRECTED, Outcome.UNRESOLVED):
            return True
        return False if self.outcome is Outcome.VALIDATED else None


@dataclass(frozen=True)
class DriftEvent:
    """A drift of one signal, or its recovery.

    Attributes
    ----------
    kind : {"drift", "recovered"}
    signal : str
    scope : str
        ``label:<name>``, ``subset:<name>`` or ``all``.
    labels : tuple of str
        The affected labels (for a subset or ``all``: those whose rate rose most; may be empty).
    before, after : float
        The rate before and after (recovered: the drifted rate and the current one).
    evidence : int
        Observations behind ``after``.
    at : int
        Texts the monitor had observed when it fired (the uncertainty signal observed when texts are
        scored: texts scored, :meth:`DriftMonitor.observe_uncertainty`).
    since : int
        The text count where the change began (recovered: where the drift began), on the same clock.
    version : str
        Model version of the text that made it fire.
    """

    kind: str
    signal: str
    scope: str
    labels: tuple[str, ...]
    before: float
    after: float
    evidence: int
    at: int
    since: int
    version: str

    def to_dict(self) -> dict[str, Any]:
        """As plain values (the body of a ``drift`` / ``recovered`` event)."""
        out = asdict(self)
        out["labels"] = list(self.labels)
        return out


class DriftMonitor:
    """Per-label (and per-subset, global) drift signals over the stream's results.

    Parameters
    ----------
    settings : DriftSettings
    quantiles : sequence of float, optional
        The fit-time uncertainty quantiles (the model metadata's ``uncertainty_quantiles``, levels
        0, 0.01, ..., 1); without them the uncertainty signal calibrates on the first 200 texts.
    groups : mapping of str to str, optional
        Label -> subset name, for subset scopes.
    """

    def __init__(
        self,
        settings: DriftSettings | None = None,
        quantiles: Sequence[float] | None = None,
        groups: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings if settings is not None else DriftSettings()
        self.threshold: float | None = None
        if quantiles is not None:
            q = np.asarray(quantiles, dtype=np.float64)
            if q.ndim != 1 or q.size < 2 or not np.all(np.isfinite(q)) or np.any(np.diff(q) < 0):
                raise ConfigError("uncertainty quantiles must be at least 2 finite, non-decreasing values")
            levels = np.linspace(0.0, 1.0, q.size)
            self.threshold = float(np.interp(self.settings.uncertainty_level, levels, q))
        self._calibration: list[float] = []
        self.groups: dict[str, str] = dict(groups or {})
        self.tracks: dict[tuple[str, str], SignalTrack] = {}
        self.named: dict[tuple[str, str], tuple[str, ...]] = {}
        self.seen = 0
        #: texts whose uncertainty came when scored (:meth:`observe_uncertainty`): that signal's clock
        self.scored = 0
        self.events = 0

    def set_groups(self, groups: Mapping[str, str]) -> None:
        """Replace the label -> subset map (after a label was added to a subset)."""
        self.groups = dict(groups)

    def observe(self, outcome: TextOutcome) -> list[DriftEvent]:
        """Take one finished text; returns the drift / recovered events it caused (usually none)."""
        self.seen += 1
        signals = self.settings.signals
        out: list[DriftEvent] = []
        for signal, key, value in self._values(outcome):
            if signal in signals:
                out += self._update(signal, key, value, outcome.version, self.seen)
        self.events += len(out)
        return out

    def observe_uncertainty(self, top_label: str, uncertainty: float, version: str = "") -> list[DriftEvent]:
        """Take a text's uncertainty when it is scored, before its outcome is known (then :meth:`observe`
        its outcome with a NaN uncertainty). A stream's results arrive out of the order the texts were
        scored, the judged (uncertain) ones last, so at result time the uncertainty rate dips and then
        rises in any burst; at scoring time it does not."""
        high = self._high_uncertainty(uncertainty)
        if high is None or "uncertainty" not in self.settings.signals:
            return []
        self.scored += 1  # its tracks' positions count scored texts (ahead of ``seen`` by those in flight)
        out = self._update("uncertainty", top_label, high, version, self.scored)
        self.events += len(out)
        return out

    def observe_many(self, outcomes: Iterable[TextOutcome]) -> list[DriftEvent]:
        """:meth:`observe` each of ``outcomes`` in order."""
        return [event for o in outcomes for event in self.observe(o)]

    def _values(self, o: TextOutcome) -> list[tuple[str, str, float]]:
        values: list[tuple[str, str, float]] = []
        high = self._high_uncertainty(o.uncertainty)
        if high is not None:
            values.append(("uncertainty", o.top_label, high))
        if o.escalated:
            return values
        rejected = o.rejected()
        if rejected is not None:
            values.append(("rejection", o.top_label, float(rejected)))
        if o.outcome in _JUDGED:
            values.append(("unresolved", o.top_label, float(o.outcome is Outcome.UNRESOLVED)))
        if o.outcome in (Outcome.VALIDATED, Outcome.CORRECTED) and o.label is not None:
            values.append(("corrected", o.label, float(o.outcome is Outcome.CORRECTED)))
        return values

    def _high_uncertainty(self, u: float) -> float | None:
        if not math.isfinite(u):
            return None
        if self.threshold is None:
            self._calibration.append(float(u))
            if len(self._calibration) < _CALIBRATION:
                return None
            self.threshold = float(np.quantile(self._calibration, self.settings.uncertainty_level))
            self._calibration = []
        return float(u > self.threshold)

    def _scopes(self, label: str) -> list[str]:
        scopes = [f"label:{label}"]
        if label in self.groups:
            scopes.append(f"subset:{self.groups[label]}")
        if self.settings.global_scope:
            scopes.append(ALL)
        return scopes

    def _update(self, signal: str, label: str, value: float, version: str, at: int) -> list[DriftEvent]:
        out = []
        for scope in self._scopes(label):
            track = self.tracks.get((scope, signal))
            if track is None:
                shared = not scope.startswith("label:")
                track = self.tracks[(scope, signal)] = SignalTrack(self.settings, shared)
            change = track.update(at, value)
            event = self._event(signal, scope, change, version, at) if change is not None else None
            if event is not None:
                out.append(event)
            elif (
                track.drifted is not None
                and scope != f"label:{label}"
                and not track.count % self.settings.recent
            ):
                out += self._name_more(signal, scope, track, version, at)
        return out

    def _name_more(
        self, signal: str, scope: str, track: SignalTrack, version: str, at: int
    ) -> list[DriftEvent]:
        """A drifted multi-label scope names labels as evidence accumulates: a ``drift`` event for the
        labels that became culprits since the last (every ``recent`` observations of the scope, for
        ``history`` texts after the change began)."""
        assert track.drifted is not None
        named = self.named.get((scope, signal), ())
        room = self.settings.max_labels - len(named)
        new = [lab for lab in self._culprits(signal, scope, track.drifted) if lab not in named][:room]
        if not new:
            return []
        self.named[(scope, signal)] = (*named, *new)
        since = [v for t, v in track.history if t >= track.drifted.start]
        d = track.drifted
        return [
            DriftEvent("drift", signal, scope, tuple(new), d.before, sum(since) / max(len(since), 1),
                       len(since), at, d.start, version)
        ]  # fmt: skip

    def _event(
        self, signal: str, scope: str, change: TrackChange, version: str, at: int
    ) -> DriftEvent | None:
        """The event of a track's change; None for a multi-label scope that names no label (yet): an
        event must name labels to be acted on, and :meth:`_name_more` reports them once their evidence
        suffices; its recovery is then reported only if some label was named."""
        if scope.startswith("label:"):
            labels: tuple[str, ...] = (scope.removeprefix("label:"),)
        elif change.kind == "drift":
            labels = self._culprits(signal, scope, change)
            self.named[(scope, signal)] = labels
        else:
            labels = self.named.pop((scope, signal), ())
        if not labels:
            return None
        return DriftEvent(
            change.kind, signal, scope, labels, change.before, change.after, change.evidence,
            at, change.start, version,
        )  # fmt: skip

    def _culprits(self, signal: str, scope: str, change: TrackChange) -> tuple[str, ...]:
        """The labels of a multi-label scope whose rate rose since ``change.start``: at least
        ``culprit_excess`` more 1s than their earlier rate predicts, with a two-proportion z score of at
        least ``culprit_z`` (a label with fewer than 10 earlier observations is compared with the scope's
        rate before the change); the largest excess first."""
        s = self.settings
        found = []
        for (key, sig), track in self.tracks.items():
            if sig != signal or not key.startswith("label:"):
                continue
            label = key.removeprefix("label:")
            if scope != ALL and self.groups.get(label) != scope.removeprefix("subset:"):
                continue
            old = [v for t, v in track.history if t < change.start]
            new = [v for t, v in track.history if t >= change.start]
            if not new:
                continue
            p_new = sum(new) / len(new)
            if len(old) >= 10:
                p_old = sum(old) / len(old)
                pooled = (sum(old) + sum(new)) / (len(old) + len(new))
                spread = pooled * (1.0 - pooled) * (1.0 / len(new) + 1.0 / len(old))
            else:
                p_old = change.before
                spread = p_old * (1.0 - p_old) / len(new)
            excess = sum(new) - p_old * len(new)
            z = (p_new - p_old) / math.sqrt(max(spread, 1e-4 / len(new)))
            if excess >= s.culprit_excess and z >= s.culprit_z:
                found.append((excess, label))
        found.sort(key=lambda e: (-e[0], e[1]))
        return tuple(label for _, label in found[: s.max_labels])

    def active(self) -> list[dict[str, Any]]:
        """The drifts not yet recovered: scope, signal, labels, rate before and after, since."""
        out = []
        for (scope, signal), track in sorted(self.tracks.items()):
            if track.drifted is not None:
                labels = (scope.removeprefix("label:"),) if scope.startswith("label:") else ()
                out.append(
                    {
                        "scope": scope,
                        "signal": signal,
                        "labels": list(self.named.get((scope, signal), labels)),
                        "before": track.drifted.before,
                        "after": track.drifted.after,
                        "since": track.drifted.start,
                    }
                )
        return out

    def stats(self) -> dict[str, Any]:
        """For the worker's stats page and metrics: texts seen, tracks, events, active drifts, and the
        recent rate of every signal over all labels."""
        return {
            "texts": self.seen,
            "tracks": len(self.tracks),
            "events": self.events,
            "uncertainty_threshold": self.threshold,
            "active": self.active(),
            "levels": {
                signal: track.level for (scope, signal), track in sorted(self.tracks.items()) if scope == ALL
            },
        }


def examples_to_relearn(
    labels: Sequence[str],
    arrived: Sequence[int] | NDArray[np.integer],
    drifted: Collection[str],
    since: int,
    limit: int = 256,
    top_labels: Sequence[str] | None = None,
) -> NDArray[np.int64]:
    """Which judge-confirmed examples to relearn after a drift of ``drifted``.

    ``labels[i]`` / ``arrived[i]`` are the confirmed label and the arrival stamp (a text count or an
    examples-topic offset, the same unit as ``since``) of the stream's confirmed examples;
    ``top_labels[i]``, when given, the model's top candidate for it. The answer is the positions of
    the examples that arrived at or after ``since`` (the change's start, :attr:`DriftEvent.since`) and
    whose confirmed label, or top candidate, is a drifted label (a drift named by the rejections of a
    top candidate is repaired by the labels the judge gave instead), at most the ``limit`` most recent,
    oldest first. The stream learns them at once, without waiting for a full learning batch, and
    learns them again if they were learned already: the drifted labels' new examples then weigh twice
    against the old ones, and the model follows the change sooner.
    """
    if limit < 0:
        raise ConfigError(f"limit must be >= 0, got {limit}")
    stamps = np.asarray(arrived, dtype=np.int64)
    if stamps.shape != (len(labels),) or (top_labels is not None and len(top_labels) != len(labels)):
        raise ConfigError(f"{len(labels)} labels but {stamps.size} arrival stamps or other top labels")
    wanted = set(drifted)
    tops = top_labels if top_labels is not None else labels
    rows = [
        i for i in range(len(labels)) if stamps[i] >= since and (labels[i] in wanted or tops[i] in wanted)
    ]
    return np.asarray(rows[len(rows) - limit :] if limit else [], dtype=np.int64)
