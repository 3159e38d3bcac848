"""Results released in the order their texts were scored (:class:`ScoringOrder`), and why the drift
watch needs it: judged texts whose first candidate was rejected finish last."""

from __future__ import annotations

from collections import deque

import numpy as np

from redline.core.candidate_walk import Outcome
from redline.core.drift import DriftEvent, DriftMonitor, TextOutcome
from redline.core.drift_signals import DriftSettings
from redline.core.scoring_order import ScoringOrder


def test_results_come_out_in_scoring_order_whatever_order_they_arrive_in() -> None:
    order: ScoringOrder[str, str] = ScoringOrder(hold_s=10.0)
    for i, key in enumerate("abcd"):
        order.scored(key, f"p{key}", now=float(i))
    order.arrived("c", "rc", now=4.0)
    order.arrived("b", "rb", now=4.0)
    assert order.release(now=4.0) == []  # "a" has no result yet: it holds the others back
    order.arrived("a", "ra", now=5.0)
    assert order.release(now=5.0) == [("pa", "ra"), ("pb", "rb"), ("pc", "rc")]
    order.arrived("d", "rd", now=6.0)
    order.arrived("d", "rd again", now=6.0)  # a second result of a waiting text is dropped
    assert order.release(now=6.0) == [("pd", "rd")]
    assert len(order) == 0 and order.counts_["released"] == 4


def test_a_missing_result_holds_the_others_back_for_hold_s_only() -> None:
    order: ScoringOrder[str, str] = ScoringOrder(hold_s=10.0)
    order.scored("slow", "p-slow", now=0.0)
    order.scored("fast", "p-fast", now=1.0)
    order.arrived("fast", "r-fast", now=1.5)
    assert order.release(now=9.9) == []
    assert order.release(now=10.0) == [("p-fast", "r-fast")]
    assert order.counts_["held_too_long"] == 1
    order.arrived("slow", "r-slow", now=30.0)  # late: released at once, with its prediction
    assert order.release(now=30.0) == [("p-slow", "r-slow")]


def test_a_result_waits_orphan_s_for_its_prediction() -> None:
    order: ScoringOrder[str, str] = ScoringOrder(hold_s=10.0, orphan_s=0.5)
    order.arrived("x", "rx", now=0.0)  # read before its prediction (two topics)
    order.scored("x", "px", now=0.2)
    assert order.release(now=0.2) == [("px", "rx")]
    order.arrived("y", "ry", now=1.0)
    assert order.release(now=1.4) == []
    assert order.release(now=1.5) == [(None, "ry")]  # no prediction came: released without one
    order.scored("y", "py", now=2.0)  # its prediction after all: it must not hold "z" back
    order.scored("z", "pz", now=2.0)
    order.arrived("z", "rz", now=2.1)
    assert order.release(now=2.1) == [("pz", "rz")]
    assert order.counts_["without_prediction"] == 1


def test_memory_of_expired_texts_is_bounded() -> None:
    order: ScoringOrder[int, str] = ScoringOrder(hold_s=1.0, remembered=100)
    for i in range(1000):
        order.scored(str(i), i, now=0.0)
    assert order.release(now=5.0) == []
    assert len(order.expired_) == 100 and len(order) == 0


def _judged_burst(rng: np.random.Generator, n: int) -> tuple[list[tuple[str, Outcome | None]], list[int]]:
    """A stationary stream of n texts (top candidate, outcome: a fifth judged, a fifth of those with the
    top candidate rejected), text ``t`` scored at step ``t``, and the step each one's result arrives.
    Accepted texts finish when scored; judged ones queue for a judge that answers 0.15 questions per
    scored text (the stream is faster), and a rejected top candidate's text queues again for its
    second question, so the backlog's end is all rejections."""
    texts: list[tuple[str, Outcome | None]] = []
    for i in range(n):
        judged = rng.random() < 0.2
        outcome = (Outcome.CORRECTED if rng.random() < 0.2 else Outcome.VALIDATED) if judged else None
        texts.append((f"l{i % 20}", outcome))
    done: dict[int, int] = {}
    queue: deque[tuple[int, int]] = deque()  # (text, question)
    credit, t = 0.0, 0
    while len(done) < n:
        if t < n:
            if texts[t][1] is None:
                done[t] = t
            else:
                queue.append((t, 1))
        credit += 0.15
        while credit >= 1 and queue:
            credit -= 1
            i, question = queue.popleft()
            if texts[i][1] is Outcome.CORRECTED and question == 1:
                queue.append((i, 2))
            else:
                done[i] = t
        t += 1
    return texts, [done[i] for i in range(n)]


def _observe(monitor: DriftMonitor, text: tuple[str, Outcome | None]) -> list[DriftEvent]:
    top, outcome = text
    label = None if outcome is None else (top if outcome is Outcome.VALIDATED else "other")
    return monitor.observe(TextOutcome(top, outcome, float("nan"), label))


def test_rejections_read_in_scoring_order_do_not_alarm_on_a_stationary_stream() -> None:
    settings = DriftSettings(signals=("rejection",))
    texts, done = _judged_burst(np.random.default_rng(5), 3000)
    arrival = sorted(range(len(texts)), key=lambda i: (done[i], i))
    as_they_come = DriftMonitor(settings)
    late = [e for i in arrival for e in _observe(as_they_come, texts[i])]
    assert any(e.kind == "drift" and e.signal == "rejection" for e in late)  # the lag alone looks like a rise
    order: ScoringOrder[int, int] = ScoringOrder(hold_s=1e9)
    released: list[int] = []
    arriving = iter(arrival)
    i: int | None = next(arriving)
    for step in range(max(done) + 1):
        if step < len(texts):
            order.scored(str(step), step, now=float(step))
        while i is not None and done[i] == step:
            order.arrived(str(i), i, now=float(step))
            i = next(arriving, None)
        released += [r for _, r in order.release(now=float(step))]
    assert released == list(range(len(texts)))
    in_order = DriftMonitor(settings)
    assert [e for i in released for e in _observe(in_order, texts[i])] == []
