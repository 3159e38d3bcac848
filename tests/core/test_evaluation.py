from __future__ import annotations

import numpy as np
import pytest
from core_synthetic import make_set, split

from redline.core.classifier import RedClassifier
from redline.core.config import EngineConfig, LoopConfig
from redline.core.evaluation import LabelledSet, evaluate
from redline.core.judge_interface import JudgeContext, Verdict
from redline.core.loop import UNRESOLVED, VALIDATED, RecursiveLoop
from redline.errors import InputDataError
from redline.judge.simulated_expert import SimulatedExpert
from redline.judge.specs import simulated_expert

DATA = make_set(20, 80, spread=1.6, seed=11)
SEED, POOL, TEST = split(DATA, n_seed=8, n_test=20)
ENGINE = EngineConfig(scorer="flat", reducer="cosine", features="embedding")


def expert(spec: str = "simulated:0.95") -> SimulatedExpert:
    """A fresh simulated expert answering from the pool's labels (its counters start at 0)."""
    return simulated_expert(spec, dict(zip(POOL.texts, POOL.labels, strict=True)), SEED.X, SEED.labels)

KEYS = {
    "accuracy",
    "macro_f1",
    "baseline_accuracy",
    "delivered_accuracy",
    "unresolved",
    "judge_calls",
    "pool_size",
    "rounds",
    "rounds_detail",
    "error_auroc",
    "config",
}


def test_evaluate_reports_the_contract_metrics_and_keeps_the_budget() -> None:
    loop = LoopConfig(budget=0.2, max_candidates=3)
    result = evaluate(SEED, POOL, TEST, engine=ENGINE, loop=loop, judge=expert())
    d = result.to_dict()
    assert KEYS <= set(d)
    assert d["pool_size"] == len(POOL)
    assert d["judge_calls"] <= int(0.2 * len(POOL))
    assert d["rounds"] == len(d["rounds_detail"]) - 1 >= 1
    assert set(d["error_auroc"]) >= {"entropy", "margin", "flat_lr_margin"}
    assert d["error_auroc"]["margin"] > 0.6  # margin finds errors better than chance
    assert d["accuracy"] >= d["seed_accuracy"] - 0.02
    assert d["delivered_accuracy"] > d["seed_accuracy"]  # judged texts are mostly right
    for r in d["rounds_detail"][:-1]:
        assert {"test_accuracy", "delivered_accuracy", "yes_rate", "judged"} <= set(r)


def test_evaluate_is_deterministic() -> None:
    loop = LoopConfig(budget=0.1)
    a = evaluate(SEED, POOL, TEST, engine=ENGINE, loop=loop, judge=expert()).to_dict()
    b = evaluate(SEED, POOL, TEST, engine=ENGINE, loop=loop, judge=expert()).to_dict()
    for key in ("accuracy", "delivered_accuracy", "judge_calls", "unresolved", "rounds"):
        assert a[key] == b[key]


def test_perfect_judge_never_validates_a_wrong_label_and_no_moves_to_next_candidate() -> None:
    model = RedClassifier(ENGINE).fit(SEED.X, SEED.texts, SEED.labels)
    expert = SimulatedExpert(dict(zip(POOL.texts, POOL.labels, strict=True)), 1.0)
    state = RecursiveLoop(model, expert, LoopConfig(budget=0.5, max_candidates=2)).run(POOL.X, POOL.texts)
    y = np.asarray(POOL.labels)
    validated = np.flatnonzero(state.status == VALIDATED)
    assert validated.size > 0
    assert all(state.label[i] == y[i] for i in validated.tolist())
    # some texts were validated on their second candidate after a "no"
    assert any(state.rejected[i] for i in validated.tolist())
    unresolved = np.flatnonzero(state.status == UNRESOLVED)
    assert all(len(state.rejected[i]) == 2 for i in unresolved.tolist())
    assert state.judge_calls <= int(0.5 * len(POOL))


class _Always:
    """A judge giving one answer to everything: exercises the stop / unresolved / failure logic."""

    def __init__(self, answer: bool | None) -> None:
        self.answer = answer
        self.calls = 0

    def judge_sync(self, text: str, label: str, context: JudgeContext) -> Verdict:
        self.calls += 1
        assert len(context.examples) <= 2
        return Verdict(valid=self.answer, reason=f"always {self.answer}")


def test_judge_rejecting_everything_leaves_texts_unresolved() -> None:
    judge = _Always(False)
    loop = LoopConfig(budget=0.3, max_candidates=2, context_examples=2)
    d = evaluate(SEED, POOL, TEST, engine=ENGINE, loop=loop, judge=judge).to_dict()
    assert d["judge_calls"] == judge.calls <= int(0.3 * len(POOL))
    assert d["validated"] == 0
    assert d["unresolved"] >= 1
    # each unresolved text cost exactly two "no"s; the rest of the calls were first "no"s of pending texts
    assert judge.calls >= 2 * d["unresolved"]
    assert d["delivered_accuracy"] <= 1 - d["unresolved"] / len(POOL) + 1e-9


def test_unknown_test_labels_are_rejected() -> None:
    bad = LabelledSet(("x",), ("nope",), TEST.X[:1])
    with pytest.raises(InputDataError):
        evaluate(SEED, POOL, bad, engine=ENGINE, loop=LoopConfig(), judge=expert())
    with pytest.raises(InputDataError):
        LabelledSet(("x", "y"), ("a",), TEST.X[:2])


def test_loop_stops_when_the_judge_confirms_nearly_every_first_candidate() -> None:
    easy = make_set(10, 60, spread=0.3, seed=4)  # the model is right almost everywhere
    seed, pool, _ = split(easy, n_seed=10, n_test=5)
    model = RedClassifier(ENGINE).fit(seed.X, seed.texts, seed.labels)
    expert = SimulatedExpert(dict(zip(pool.texts, pool.labels, strict=True)), 1.0)
    loop = LoopConfig(budget=1.0, rounds_planned=10, stop_yes_rate=0.9)
    state = RecursiveLoop(model, expert, loop).run(pool.X, pool.texts)
    assert state.stop_reason == "judge confirmed nearly every first candidate"
    assert state.judge_calls < len(pool)  # budget left unspent
    assert state.rounds[0]["yes_rate_first"] >= 0.9  # round 0 judged, round 1 stopped


def test_a_failing_judge_is_not_a_no_texts_stay_pending_and_nothing_is_learned() -> None:
    judge = _Always(None)
    model = RedClassifier(ENGINE).fit(SEED.X, SEED.texts, SEED.labels)
    loop = LoopConfig(budget=0.3, max_candidates=2, context_examples=2, max_rounds=2)
    state = RecursiveLoop(model, judge, loop).run(POOL.X, POOL.texts)
    assert judge.calls > 0
    assert not (state.status == UNRESOLVED).any()  # a failure never rejects a label
    assert not (state.status == VALIDATED).any()
    assert all(not r for r in state.rejected)
    assert sum(r.get("judge_failures", 0) for r in state.rounds) == judge.calls
