"""A worker's counters: what its ``/redline/stats/`` page shows."""

from __future__ import annotations

import math
from collections import Counter
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

    def count_sent(self, topic: str) -> None:
        """One more message sent to ``topic``."""
        self.sent[topic] += 1


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
