"""A worker's counters: what its ``/redline/stats/`` page shows."""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

from redline.core.judge_budget import BudgetedRouter
from redline.streams.topics import Topics


@dataclass
class WorkerStats:
    """Messages in and out and learning progress of one worker (counters only go up).

    ``sent`` is keyed by topic field name (``labels``, ``deadletter``, ``judge_requests``, ...), the
    same names the agents send to, so every counter moves.
    """

    texts: int = 0
    sent: Counter[str] = field(default_factory=lambda: Counter({f.name: 0 for f in fields(Topics)}))
    learned: int = 0
    model_updates: int = 0
    failed_updates: int = 0
    reloads: int = 0
    #: the newest model work of this worker, oldest first (:meth:`worked`)
    model_work: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=32))
    #: model work under way (:meth:`working`): kind and ``time.time()`` it started, oldest first
    running: list[tuple[str, float]] = field(default_factory=list)

    def count_sent(self, topic: str) -> None:
        """One more message sent to ``topic``."""
        self.sent[topic] += 1

    def worked(self, kind: str, started_at: float, seconds: float, yielded_s: float = 0.0) -> None:
        """Model work that shares the CPU with the classify path took ``seconds`` from ``started_at``
        (``time.time()``), ``yielded_s`` of it asleep: ``learn``, ``relearn``, ``refit catch-up``,
        ``publish`` or ``reload``. What a latency percentile is read against."""
        work = {"kind": kind, "at": round(started_at, 3), "seconds": round(seconds, 3)}
        self.model_work.append(work | ({"yielded_s": round(yielded_s, 3)} if yielded_s else {}))

    @contextmanager
    def working(self, kind: str, pace: YieldToClassify | None = None) -> Iterator[None]:
        """List the block as model work of ``kind`` under way while it runs and record it (:meth:`worked`,
        with the time ``pace`` slept) when it completes; one that raises is not recorded."""
        started, started_at = time.perf_counter(), time.time()
        entry = (kind, started_at)
        self.running.append(entry)
        try:
            yield
        finally:
            self.running.remove(entry)
        self.worked(kind, started_at, time.perf_counter() - started, pace.slept_s if pace else 0.0)

    def work_page(self, now: float) -> list[dict[str, Any]]:
        """The recorded model work, then the work under way (``"running": true``, its ``seconds`` so
        far at ``now``, a ``time.time()``): a learning step still running is what a slow text waited
        for, and a page that listed completed work only hid it."""
        under_way = [
            {"kind": kind, "at": round(at, 3), "seconds": round(max(0.0, now - at), 3), "running": True}
            for kind, at in self.running
        ]
        return [*self.model_work, *under_way]


@dataclass
class ClassifyLoad:
    """Whether the classify path is saturated: its batches come full (more texts were waiting) and keep
    coming. A batch that closes on its timer, short, means the input ran dry.

    Times are ``time.monotonic()`` seconds, passed in.
    """

    #: seconds without a batch after which the path is idle whatever the last batch was
    quiet_after_s: float = 1.0
    saturated_since: float | None = None
    last_batch_at: float = -math.inf

    def batch(self, size: int, full_size: int, now: float) -> None:
        """A batch of ``size`` texts was read (``full_size``: the batch size)."""
        self.last_batch_at = now
        if size < full_size:
            self.saturated_since = None
        elif self.saturated_since is None:
            self.saturated_since = now

    def classifying(self, now: float) -> bool:
        """Whether the classify path has read a batch within ``quiet_after_s``."""
        return now - self.last_batch_at <= self.quiet_after_s

    def saturated_for(self, now: float) -> float:
        """Seconds the classify path has been saturated without a break (0 when it is not)."""
        if self.saturated_since is None or not self.classifying(now):
            return 0.0
        return now - self.saturated_since


@dataclass
class YieldToClassify:
    """Handed to a learning step as its ``pause`` (called on the learning thread between the optimiser's
    evaluations): while the classify path is classifying (:meth:`ClassifyLoad.classifying`), it sleeps
    ``ratio`` times as long as the step computed since its last call (at most 1 s), so that a step takes
    at most 1 / (1 + ratio) of a core from a stream that is classifying; with nothing to classify it does
    not sleep. ``last``: when the step started (``time.monotonic()``)."""

    load: ClassifyLoad
    last: float
    ratio: float = 1.0
    slept_s: float = 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        if self.ratio > 0 and self.load.classifying(now):
            pause = min((now - self.last) * self.ratio, 1.0)
            time.sleep(pause)
            self.slept_s += pause
        self.last = time.monotonic()


def routing_stats(router: BudgetedRouter) -> dict[str, Any]:
    """The live judge share of a router: texts routed, texts sent to the judge, their share, the
    target and the current threshold; the labels a drift boost covers now, the texts escalated by
    boosts and the judge calls they cost that are not yet repaid."""
    s = router.state()
    return {
        "texts": s.seen,
        "judge_asked": s.asked,
        "judge_share": round(s.share, 4),
        "target_share": s.target_share,
        "threshold": round(s.threshold, 6) if math.isfinite(s.threshold) else None,
        "window": s.window,
        "warm_start": s.prior,
        "boosted_labels": list(s.boosted),
        "escalated": s.escalated,
        "deferred": round(s.deferred, 1),
    }
