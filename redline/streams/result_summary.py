"""A running summary of ``LabelResult`` records: counts by status, accuracy, judge calls, throughput."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from redline.core.metrics import delivered_accuracy
from redline.schemas import LabelResult

#: every status a result can have; the last two emit no label and count as wrong in accuracy
STATUSES = ("accepted", "validated", "corrected", "unresolved", "judge_unavailable")
#: the statuses that emit a label (per-status accuracy is reported for these)
LABELLING_STATUSES = ("accepted", "validated", "corrected")


@dataclass
class ResultSummary:
    """Counts results as they arrive; ground truth (id -> label) is optional.

    Duplicate ids are counted in ``duplicates`` and otherwise ignored (the first result wins).
    """

    truth: Mapping[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    results: dict[str, LabelResult] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    judge_calls: int = 0
    judge_cost: float = 0.0
    last_arrival: float | None = None

    def add(self, result: LabelResult, arrived: float | None = None) -> None:
        """Count one result."""
        if result.id in self.results:
            self.duplicates += 1
            return
        self.results[result.id] = result
        self.statuses[result.status] += 1
        if result.judge is not None:
            self.judge_calls += result.judge.calls
            self.judge_cost += result.judge.cost
        self.last_arrival = time.monotonic() if arrived is None else arrived

    @property
    def count(self) -> int:
        """Distinct ids with a result."""
        return len(self.results)

    def throughput(self) -> float:
        """Results per second from ``started`` to the latest arrival."""
        if self.last_arrival is None:
            return 0.0
        return self.count / max(self.last_arrival - self.started, 1e-9)

    def _accuracy(self, pick: Any) -> tuple[float | None, int]:
        """Accuracy of ``pick(result)`` (a label, None = wrong, ``...`` = leave the result out) over
        the results with a known truth, and how many were counted."""
        pairs = [(pick(r), self.truth[i]) for i, r in self.results.items() if i in self.truth]
        pairs = [(p, t) for p, t in pairs if p is not ...]
        if not pairs:
            return None, 0
        emitted, truth = zip(*pairs, strict=True)
        return delivered_accuracy(emitted, truth), len(pairs)

    def accuracy(self) -> dict[str, Any]:
        """Accuracy against the truth, several ways.

        ``model``: the model's top candidate alone (what the stream would emit without a judge);
        ``delivered``: the emitted label, a result without one (unresolved, judge unavailable) counting
        as wrong (:func:`redline.core.metrics.delivered_accuracy`); ``precision``: over emitted labels
        only; per labelling status: accuracy of the labels emitted with that status.
        """
        out: dict[str, Any] = {}
        out["model"], out["n"] = self._accuracy(lambda r: r.candidates[0].label if r.candidates else None)
        out["delivered"], _ = self._accuracy(lambda r: r.label)
        out["precision"], out["labelled"] = self._accuracy(lambda r: r.label if r.label is not None else ...)
        for status in LABELLING_STATUSES:
            out[status], _ = self._accuracy(lambda r, s=status: r.label if r.status == s else ...)
        return out

    def line(self, expected: int | None = None) -> str:
        """One status line for a live display."""
        acc = self.accuracy()
        parts = [f"results {self.count}" + (f"/{expected}" if expected else "")]
        parts.append(" ".join(f"{s} {self.statuses[s]}" for s in STATUSES))
        if acc["delivered"] is not None:
            parts.append(f"accuracy model {acc['model']:.3f} -> delivered {acc['delivered']:.3f}")
        parts.append(f"judge calls {self.judge_calls}")
        parts.append(f"{self.throughput():.1f} texts/s")
        return " | ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready data."""
        return {
            "results": self.count,
            "duplicates": self.duplicates,
            "statuses": {s: self.statuses[s] for s in STATUSES},
            "accuracy": self.accuracy(),
            "judge_calls": self.judge_calls,
            "judge_cost": self.judge_cost,
            "throughput_per_s": self.throughput(),
            "seconds": (self.last_arrival or self.started) - self.started,
        }
