"""One simulated stream run for ``bench_drift.py``: the worker's decide -> judge -> learn cycle, the drift
monitor and the new-intent detector, with drift handling on or off (see bench_drift's docstring)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from redline.core.candidate_walk import Outcome
from redline.core.classifier import RedClassifier
from redline.core.drift import DriftEvent, DriftMonitor, TextOutcome, examples_to_relearn
from redline.core.drift_signals import DriftSettings
from redline.core.engine import ESCALATED, Action, JudgePolicy, StreamEngine
from redline.core.judge_budget import BudgetedRouter
from redline.core.new_intents import IntentSuggestion, NewIntentDetector, NewIntentSettings
from redline.judge.simulated_expert import SimulatedExpert


@dataclass(frozen=True)
class SimConfig:
    """How a run is simulated."""

    handling: bool
    judge_share: float = 0.2
    batch: int = 32
    learn_every: int = 64
    boost_texts: int = 1500
    boost_share: float = 1.0
    relearn_limit: int = 256
    replay: bool = True
    operator_delay: int = 300
    operator_purity: float = 0.6
    drift: DriftSettings = field(default_factory=DriftSettings)
    intents: NewIntentSettings = field(default_factory=NewIntentSettings)


@dataclass
class Run:
    """What happened at each position of the stream, and the events."""

    correct: np.ndarray
    judged: np.ndarray
    escalated: np.ndarray
    events: list[dict[str, Any]]
    learned: int
    updates: int
    seconds: float
    classes: int


def simulate(
    model: RedClassifier,
    quantiles: list[float],
    X: np.ndarray,
    texts: list[str],
    truth: list[str | None],
    judge: SimulatedExpert,
    cfg: SimConfig,
) -> Run:
    """Stream ``texts`` (embeddings ``X``, ground truth ``truth``: None = no label applies) through a
    worker's engine built on ``model``."""
    t0 = time.perf_counter()
    n = len(texts)
    router = BudgetedRouter(share=cfg.judge_share, window=2000, prior=quantiles)
    policy = JudgePolicy(judge_share=cfg.judge_share, max_candidates=5, context_examples=0)
    engine = StreamEngine(model, "v0", router, policy)
    monitor = DriftMonitor(cfg.drift, quantiles)
    intents = NewIntentDetector(cfg.intents)
    correct = np.zeros(n, dtype=bool)
    judged = np.zeros(n, dtype=bool)
    escalated = np.zeros(n, dtype=bool)
    events: list[dict[str, Any]] = []
    pending: list[int] = []  # positions confirmed by the judge, not learned yet
    confirmed_pos: list[int] = []
    confirmed_label: list[str] = []
    confirmed_top: list[str] = []
    label_of: dict[int, str] = {}
    relearned: set[int] = set()
    operator: list[tuple[int, IntentSuggestion]] = []
    learned = updates = 0

    def learn(rows: list[int], reason: str) -> None:
        nonlocal engine, learned, updates
        if not rows:
            return
        model = engine.model.copy().update(X[rows], [texts[i] for i in rows], [label_of[i] for i in rows])
        updates += 1
        learned += len(rows)
        engine = engine.with_model(model, f"v{updates}")

    for start in range(0, n, cfg.batch):
        stop = min(start + cfg.batch, n)
        batch = list(range(start, stop))
        decisions = engine.decide(X[start:stop], texts[start:stop])
        top = [d.candidates[0].label for d in decisions]
        unc = np.asarray([d.uncertainty for d in decisions])
        # the engine escalates a boosted label's texts itself (router.escalate), marked ESCALATED
        extra = np.asarray([d.reason == ESCALATED for d in decisions])
        asked = np.asarray([d.action is Action.ASK for d in decisions]) & ~extra
        drift_events: list[DriftEvent] = []
        for j, i in enumerate(batch):
            d = decisions[j]
            outcome: Outcome | None = None
            delivered: str | None = d.label
            if asked[j] or extra[j]:
                judged[i], escalated[i] = True, bool(extra[j])
                labels = [c.label for c in d.candidates]
                answers: list[bool | None] = []
                while True:
                    step = engine.step(labels, answers)
                    if step.outcome is not Outcome.ASK:
                        break
                    assert step.label is not None
                    answers.append(judge.judge_sync(texts[i], step.label).valid)
                outcome, delivered = step.outcome, step.label
                if step.outcome.labelled and step.label is not None:
                    label_of[i] = step.label
                    pending.append(i)
                    confirmed_pos.append(i)
                    confirmed_label.append(step.label)
                    confirmed_top.append(top[j])
            correct[i] = delivered == truth[i]
            drift_events += monitor.observe(
                TextOutcome(top[j], outcome, float(unc[j]), delivered, escalated=bool(extra[j]),
                            version=engine.version)
            )  # fmt: skip
            if outcome is Outcome.UNRESOLVED:
                for s in intents.observe(str(i), X[i], texts[i]):
                    events.append(_suggestion_record(s, truth, i))
                    operator.append((i + cfg.operator_delay, s))
        for e in drift_events:
            events.append({**e.to_dict(), "kind": e.kind})
            if cfg.handling and e.kind == "drift" and e.labels:
                router.boost(e.labels, cfg.boost_share, cfg.boost_texts)
                rows = examples_to_relearn(
                    confirmed_label, confirmed_pos, e.labels, e.since, cfg.relearn_limit, confirmed_top
                )
                # as the stream does: an example relearned after an earlier event is not learned again
                found = [confirmed_pos[r] for r in rows.tolist()]
                again = [i for i in found if i not in pending and i not in relearned]
                again = again if cfg.replay else []
                relearned.update(again)
                learn(again + pending, "relearn")
                pending = []
        if len(pending) >= cfg.learn_every:
            learn(pending, "batch")
            pending = []
        while cfg.handling and operator and operator[0][0] <= stop:
            _, s = operator.pop(0)
            record = _operator(s, truth, engine.classes, cfg.operator_purity)
            record["at"] = stop
            events.append(record)
            if record["kind"] == "add_label":
                model = engine.model.copy().add_label(record["label"], s.embeddings, list(s.texts))
                updates += 1
                engine = engine.with_model(model, f"v{updates}")
    return Run(
        correct, judged, escalated, events, learned, updates, time.perf_counter() - t0, len(engine.classes)
    )


def _suggestion_record(s: IntentSuggestion, truth: list[str | None], at: int) -> dict[str, Any]:
    names = [truth[int(k)] or "(out of scope)" for k in s.keys]
    top, count = Counter(names).most_common(1)[0]
    return {"kind": "new_label_suggested", "at": at, "cluster": s.cluster, "size": s.size,
            "cohesion": round(s.cohesion, 3), "majority": top, "purity": count / len(names)}  # fmt: skip


def _operator(
    s: IntentSuggestion, truth: list[str | None], classes: list[str], purity: float
) -> dict[str, Any]:
    """What an operator does with a suggestion: names it after its examples' true intent and adds it,
    unless the examples are out of scope, of a known label, or mixed."""
    names = [truth[int(k)] for k in s.keys]
    top, count = Counter(names).most_common(1)[0]
    if top is None or top in classes or count / len(names) < purity:
        return {"kind": "declined", "cluster": s.cluster, "majority": top or "(out of scope)"}
    return {"kind": "add_label", "cluster": s.cluster, "label": top, "examples": len(names)}
