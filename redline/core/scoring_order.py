"""Results in the order their texts were scored, for whoever reads a stream's results as a sequence.

A stream worker scores its texts in the order it reads them, but their results come out in another: an
accepted text's result is sent at once, a judged text's after the judge answered (a burst's judged,
uncertain texts last, a rejected first candidate later still). A monitor that reads the results as they
come sees every burst end with a run of judged outcomes, a rise of the rejection rate that is only the
judge's latency (bench_stream, defaults at 150 labels on the shuffled CLINC150 test split: "rejection of
change_ai_name rose: 0.20 -> 0.33"). :class:`ScoringOrder` holds each result until every text scored
before it has its own, or until it has waited ``hold_s``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

P = TypeVar("P")
R = TypeVar("R")


class ScoringOrder(Generic[P, R]):
    """Releases results in the order their texts were scored.

    A text is known by its key. :meth:`scored` appends it (with what its prediction says, ``P``),
    :meth:`arrived` gives it its result (``R``), :meth:`release` returns the results of the texts at the
    front that have one. A text whose result has not come after ``hold_s`` no longer holds the others
    back (its result is released when it comes); a result whose text was not scored (its prediction
    not read yet, or never) waits ``orphan_s`` for it and is then released without a prediction.

    Parameters
    ----------
    hold_s : float
        Seconds the front text may hold back the results after it (a judge's latency, and then some).
    orphan_s : float
        Seconds a result waits for its text's prediction (they come from two topics).
    remembered : int
        Texts whose hold ran out that are remembered, to pair their late results with their predictions.
    """

    def __init__(self, hold_s: float = 30.0, orphan_s: float = 0.5, remembered: int = 20_000) -> None:
        self.hold_s = hold_s
        self.orphan_s = orphan_s
        self.remembered = remembered
        self.pending_: OrderedDict[str, tuple[float, P, R | None]] = OrderedDict()
        self.orphans_: OrderedDict[str, tuple[float, R]] = OrderedDict()
        self.expired_: OrderedDict[str, P] = OrderedDict()
        self.late_: list[tuple[P | None, R]] = []
        self.unscored_: OrderedDict[str, None] = OrderedDict()  # released without their prediction
        self.counts_ = {"released": 0, "held_too_long": 0, "without_prediction": 0}

    def scored(self, key: str, prediction: P, now: float) -> None:
        """Text ``key`` was scored at ``now`` (a text scored again keeps its first place)."""
        if key in self.pending_:
            return
        if key in self.unscored_:  # its result went out without it: it must not hold the others back now
            del self.unscored_[key]
            return
        orphan = self.orphans_.pop(key, None)
        self.pending_[key] = (now, prediction, None if orphan is None else orphan[1])

    def arrived(self, key: str, result: R, now: float) -> None:
        """Text ``key``'s result arrived at ``now`` (a second result of a waiting text is dropped)."""
        entry = self.pending_.get(key)
        if entry is not None:
            if entry[2] is None:
                self.pending_[key] = (entry[0], entry[1], result)
            return
        if key in self.expired_:  # its hold ran out: released at once, with its prediction
            self.late_.append((self.expired_.pop(key), result))
            return
        self.orphans_[key] = (now, result)

    def release(self, now: float) -> list[tuple[P | None, R]]:
        """The results now due, in scoring order: the front texts' that have one, then late ones (a
        text's that stopped holding the others back, or that waited for its prediction in vain)."""
        out: list[tuple[P | None, R]] = []
        while self.pending_:
            key, (at, prediction, result) = next(iter(self.pending_.items()))
            if result is None and now - at < self.hold_s:
                break
            del self.pending_[key]
            if result is not None:
                out.append((prediction, result))
                continue
            self.counts_["held_too_long"] += 1
            _remember(self.expired_, key, prediction, self.remembered)
        out += self.late_
        self.late_ = []
        while self.orphans_:
            key, (at, result) = next(iter(self.orphans_.items()))
            if now - at < self.orphan_s:
                break
            del self.orphans_[key]
            self.counts_["without_prediction"] += 1
            _remember(self.unscored_, key, None, self.remembered)
            out.append((None, result))
        self.counts_["released"] += len(out)
        return out

    def __len__(self) -> int:
        """Texts waiting: scored without a released result, and results without a prediction."""
        return len(self.pending_) + len(self.orphans_) + len(self.late_)


def _remember(table: OrderedDict[str, P], key: str, value: P, limit: int) -> None:
    table[key] = value
    while len(table) > limit:
        table.popitem(last=False)
