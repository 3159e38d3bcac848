"""StreamEngine: the worker's decisions, its judge contexts and copy-on-write learning."""

from __future__ import annotations

import numpy as np
import pytest
from core_synthetic import make_set, split

from redline.core.candidate_walk import Outcome
from redline.core.classifier import RedClassifier
from redline.core.config import EngineConfig
from redline.core.engine import ESCALATED, Action, ExampleIndex, JudgePolicy, StreamEngine
from redline.core.judge_budget import BudgetedRouter
from redline.errors import ConfigError, ModelError

DATA = make_set(12, 40, spread=1.4, seed=5)
SEED, POOL, TEST = split(DATA, n_seed=10, n_test=5)
CONFIG = EngineConfig(scorer="flat", features="embedding", reducer="cosine")


def _engine(**kwargs: object) -> StreamEngine:
    model = RedClassifier(CONFIG).fit(SEED.X, SEED.texts, SEED.labels, {"label_000": "the first"})
    router = kwargs.pop("router", BudgetedRouter(share=0.3, window=200))
    policy = JudgePolicy(
        judge_share=router.share,
        threshold=router.fixed_threshold,
        max_candidates=3,
        context_examples=int(kwargs.pop("context_examples", 3)),  # type: ignore[call-overload]
    )
    return StreamEngine(model, "v1", router, policy, **kwargs)  # type: ignore[arg-type]


def test_decisions_follow_the_router_and_rank_candidates() -> None:
    engine = _engine(router=BudgetedRouter(fixed_threshold=0.5))
    decisions = engine.decide(POOL.X, POOL.texts)
    assert len(decisions) == len(POOL)
    scores = engine.model.predict_scores(POOL.X, POOL.texts)
    for d, u, row in zip(decisions, scores.margin, scores.proba, strict=True):
        assert d.uncertainty == pytest.approx(u)
        assert len(d.candidates) == 3
        assert [c.label for c in d.candidates] == [engine.classes[j] for j in np.argsort(-row)[:3]]
        if u >= 0.5:
            assert d.action is Action.ASK and len(d.contexts) == 3 and d.label is None
        else:
            assert d.action is Action.ACCEPT and d.label == d.candidates[0].label
            assert d.confidence == d.candidates[0].p


def test_judge_contexts_are_the_labels_nearest_training_texts() -> None:
    engine = _engine(router=BudgetedRouter(share=1.0), context_examples=2)
    d = engine.decide(POOL.X[:1], POOL.texts[:1])[0]
    assert d.action is Action.ASK
    for ctx in d.contexts:
        rows = [i for i, lab in enumerate(SEED.labels) if lab == ctx.label]
        sims = SEED.X[rows] @ POOL.X[0]
        want = [SEED.texts[rows[j]] for j in np.argsort(-sims, kind="stable")[:2]]
        assert list(ctx.examples) == want
        assert ctx.description == ("the first" if ctx.label == "label_000" else "")


def test_without_a_judge_uncertain_texts_end_unresolved() -> None:
    engine = _engine(router=BudgetedRouter(share=1.0), judge_available=False)
    decisions = engine.decide(POOL.X[:5], POOL.texts[:5])
    assert {d.action for d in decisions} == {Action.UNRESOLVED}
    assert all("no judge" in d.reason for d in decisions)


def test_step_is_the_candidate_walk() -> None:
    engine = _engine()
    assert engine.step(("a", "b", "c"), [False, True]).outcome is Outcome.CORRECTED


def test_learning_is_copy_on_write_and_keeps_the_router() -> None:
    engine = _engine()
    before = engine.model.predict_scores(TEST.X, TEST.texts).proba.copy()
    n = len(engine.model.y_)
    learned = engine.learn(POOL.X[:20], POOL.texts[:20], POOL.labels[:20], "v2")
    assert learned.version == "v2" and engine.version == "v1"
    assert len(engine.model.y_) == n and len(learned.model.y_) == n + 20
    np.testing.assert_array_equal(engine.model.predict_scores(TEST.X, TEST.texts).proba, before)
    assert learned.router is engine.router
    # learned examples are shown to the judge from now on
    ctx = learned.contexts(POOL.X[:1], [[POOL.labels[0]]])[0][0]
    assert POOL.texts[0] in ctx.examples


def test_add_label_returns_an_engine_that_can_predict_it() -> None:
    engine = _engine(router=BudgetedRouter(fixed_threshold=1.0))
    X = TEST.X[TEST.labels.index("label_003") :][:3]
    added = engine.add_label("brand_new", X, ["n1", "n2", "n3"], "a new class", "v2")
    assert "brand_new" in added.classes and "brand_new" not in engine.classes
    assert added.descriptions["brand_new"] == "a new class"


def test_state_round_trip_decides_the_same() -> None:
    engine = _engine(router=BudgetedRouter(fixed_threshold=0.5))
    again = StreamEngine.from_state(engine.to_state(), BudgetedRouter(fixed_threshold=0.5))
    assert again.version == "v1"
    a = engine.decide(POOL.X, POOL.texts)
    b = again.decide(POOL.X, POOL.texts)
    assert a == b
    with pytest.raises(ModelError):
        StreamEngine.from_state({"format": "x"}, BudgetedRouter())


def test_bad_construction_is_refused() -> None:
    with pytest.raises(ModelError):
        StreamEngine(RedClassifier(CONFIG), "v", BudgetedRouter())
    with pytest.raises(ConfigError):
        _engine(context_examples=-1)
    with pytest.raises(ConfigError):
        JudgePolicy(max_candidates=0)


def test_a_policy_change_retargets_the_shared_router_and_the_walk() -> None:
    engine = _engine(router=BudgetedRouter(share=0.2, window=100))
    engine.decide(POOL.X, POOL.texts)
    seen = engine.router.state().seen
    changed = engine.with_policy(JudgePolicy(judge_share=0.5, max_candidates=2, context_examples=1))
    assert changed.router is engine.router and engine.router.share == 0.5
    assert engine.router.state().seen == seen  # the window and counters are kept
    d = changed.decide(POOL.X[:1], POOL.texts[:1])[0]
    assert len(d.candidates) == 2
    fixed = changed.with_policy(JudgePolicy(threshold=0.0))
    assert all(x.action is Action.ASK for x in fixed.decide(POOL.X[:5], POOL.texts[:5]))


def test_the_examples_shown_to_the_judge_can_come_from_elsewhere() -> None:
    engine = _engine(router=BudgetedRouter(share=1.0), context_examples=1)
    index = ExampleIndex.build(POOL.X[:3], ["x0", "x1", "x2"], [engine.classes[0]] * 3)
    other = engine.with_model(engine.model, "v2", examples=index)
    [ctx] = other.contexts(POOL.X[1:2], [[engine.classes[0]]])[0]
    assert ctx.examples == ("x1",)
    assert other.contexts(POOL.X[1:2], [[engine.classes[1]]])[0][0].examples == ()


def test_a_boosted_label_sends_its_texts_to_the_judge_marked_escalated() -> None:
    engine = _engine(router=BudgetedRouter(fixed_threshold=0.99, boost_cap=1.0))
    before = engine.decide(POOL.X, POOL.texts)
    boosted = before[0].candidates[0].label
    engine.router.boost([boosted], share=1.0, texts=len(POOL))
    after = engine.decide(POOL.X, POOL.texts)
    for b, a in zip(before, after, strict=True):
        top = a.candidates[0].label
        if top == boosted and b.action is Action.ACCEPT:
            assert a.action is Action.ASK and a.reason == ESCALATED and len(a.contexts) == 3
        else:
            assert a.action is b.action and a.reason != ESCALATED
    assert sum(a.reason == ESCALATED for a in after) == engine.router.state().escalated > 0
    # the boost lasted len(POOL) texts: the next batch decides as before
    assert [d.action for d in engine.decide(POOL.X, POOL.texts)] == [d.action for d in before]
