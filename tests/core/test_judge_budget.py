from __future__ import annotations

import numpy as np
import pytest

from redline.core.judge_budget import (
    BudgetedRouter,
    held_out_uncertainty,
    uncertainty_quantiles,
)
from redline.core.uncertainty import margin_uncertainty
from redline.errors import ConfigError


def _stream(router: BudgetedRouter, unc: np.ndarray, batch: int = 64) -> np.ndarray:
    """Route ``unc`` in batches; returns 1 where a text was asked."""
    asked = []
    for start in range(0, unc.size, batch):
        u = unc[start : start + batch]
        asked += router.ask(u).tolist()
    return np.asarray(asked)


def _shifting(n: int, seed: int = 0) -> np.ndarray:
    """Uncertainties whose distribution shifts twice: low, then high, then a narrow band."""
    rng = np.random.default_rng(seed)
    third = n // 3
    return np.concatenate(
        [
            rng.beta(1, 6, third),  # mostly confident
            rng.beta(5, 2, third),  # mostly uncertain (e.g. a new topic appeared)
            0.4 + 0.05 * rng.random(n - 2 * third),  # all alike
        ]
    )


@pytest.mark.parametrize("share", [0.1, 0.2, 0.35])
def test_share_converges_to_target_on_a_shifting_stream(share: float) -> None:
    unc = _shifting(30_000)
    router = BudgetedRouter(share=share, window=1000)
    asked = _stream(router, unc)
    assert abs(asked.mean() - share) < 0.01
    assert router.state().share == pytest.approx(asked.mean())
    # within each regime (after the window has caught up), the share is near the target too
    for part in np.array_split(asked, 3):
        assert abs(part[2000:].mean() - share) < 0.03
    # a fixed threshold would have drifted far from the budget
    fixed = np.mean(unc >= np.quantile(unc[:10_000], 1 - share))
    assert abs(fixed - share) > 0.2


def test_the_most_uncertain_texts_are_asked() -> None:
    rng = np.random.default_rng(1)
    unc = rng.random(5000)
    asked = _stream(BudgetedRouter(share=0.2, window=500), unc)
    assert unc[asked].min() > np.quantile(unc, 0.65)
    assert unc[~asked].max() < np.quantile(unc, 0.92)


def test_prior_routes_the_first_texts_sensibly() -> None:
    rng = np.random.default_rng(2)
    fit_time = rng.beta(1, 4, 3000)
    prior = uncertainty_quantiles(fit_time)
    router = BudgetedRouter(share=0.2, window=2000, prior=prior, prior_weight=500)
    assert router.threshold_ == pytest.approx(np.quantile(fit_time, 0.8), abs=0.01)
    first = rng.beta(1, 4, 8)  # one small batch: its own quantile would be noise
    asked = _stream(router, first, batch=8)
    assert router.threshold_ == pytest.approx(np.quantile(fit_time, 0.8), abs=0.02)
    assert list(asked) == list(first > router.threshold_)
    # without a prior, the first batch is routed by its own quantile
    alone = BudgetedRouter(share=0.2, window=2000)
    assert alone.threshold_ == 1.0
    _stream(alone, first, batch=8)
    assert alone.threshold_ == pytest.approx(np.quantile(first, 0.8))


def test_fixed_threshold_wins_and_counts() -> None:
    unc = np.array([0.1, 0.2, 0.3, 0.9])
    router = BudgetedRouter(share=0.9, fixed_threshold=0.3)
    assert router.ask(unc).tolist() == [False, False, True, True]
    state = router.state()
    assert state.target_share is None and state.threshold == 0.3 and state.share == 0.5


@pytest.mark.parametrize("share,expected", [(0.0, 0), (1.0, 100)])
def test_extreme_shares(share: float, expected: int) -> None:
    asked = _stream(BudgetedRouter(share=share, window=50), np.random.default_rng(3).random(100))
    assert asked.sum() == expected


def test_same_inputs_same_routes() -> None:
    unc = _shifting(3000, seed=4)
    a = _stream(BudgetedRouter(share=0.2, window=300), unc)
    b = _stream(BudgetedRouter(share=0.2, window=300), unc)
    assert (a == b).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"share": 1.5},
        {"share": -0.1},
        {"window": 0},
        {"fixed_threshold": 2.0},
        {"payback": -1},
        {"prior_weight": 0},
        {"prior": [0.5]},
        {"prior": [0.5, 0.1]},
        {"prior": [0.1, float("nan")]},
    ],
)
def test_bad_settings_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        BudgetedRouter(**kwargs)


def test_uncertainty_quantiles() -> None:
    q = uncertainty_quantiles(np.linspace(0, 1, 1001))
    assert len(q) == 101 and q[0] == 0.0 and q[-1] == 1.0 and q[50] == pytest.approx(0.5)
    with pytest.raises(ConfigError):
        uncertainty_quantiles(np.array([]))


class _Centroids:
    """A tiny real model: softmax over negative distances to class centroids."""

    def fit(self, X, texts, y):
        self.classes_ = sorted(set(y))
        yy = np.asarray(y)
        self.C = np.stack([X[yy == c].mean(axis=0) for c in self.classes_])
        return self

    def predict_scores(self, X, texts):
        d = ((X[:, None, :] - self.C[None]) ** 2).sum(-1)
        p = np.exp(-4 * d)
        p /= p.sum(1, keepdims=True)

        class S:
            def uncertainty(self, kind):
                return margin_uncertainty(p)

        return S()


def test_held_out_uncertainty_is_higher_than_in_sample() -> None:
    rng = np.random.default_rng(5)
    y = [c for c in "abcd" for _ in range(12)]
    centers = {c: rng.normal(size=2) for c in "abcd"}
    X = np.stack([centers[c] + 0.8 * rng.normal(size=2) for c in y])
    X = np.vstack([X, [[9.0, 9.0]]])  # one label with a single example: scored in-sample
    y = [*y, "e"]
    texts = [str(i) for i in range(len(y))]
    held = held_out_uncertainty(_Centroids, X, texts, y, "margin", folds=3, seed=0)
    again = held_out_uncertainty(_Centroids, X, texts, y, "margin", folds=3, seed=0)
    inside = _Centroids().fit(X, texts, y).predict_scores(X, texts).uncertainty("margin")
    assert held.shape == (len(y),) and (held == again).all()
    assert held[:-1].mean() > inside[:-1].mean()
    assert held[-1] == pytest.approx(inside[-1])
    with pytest.raises(ConfigError):
        held_out_uncertainty(_Centroids, X, texts, y, "margin", folds=1)


class _Recording(_Centroids):
    """Remembers which texts each fitted model trained on and which it scored."""

    log: list[tuple[set[str], list[str]]]

    def fit(self, X, texts, y):
        self.trained = set(texts)
        return super().fit(X, texts, y)

    def predict_scores(self, X, texts):
        self.log.append((self.trained, list(texts)))
        return super().predict_scores(X, texts)


def test_held_out_folds_score_every_text_out_of_sample_except_rare_labels(recwarn) -> None:
    rng = np.random.default_rng(7)
    y = [c for c, n in (("a", 10), ("b", 7), ("c", 4), ("rare", 2)) for _ in range(n)]
    X = rng.normal(size=(len(y), 3))
    texts = [f"t{i}" for i in range(len(y))]
    log: list[tuple[set[str], list[str]]] = []

    def make() -> _Recording:
        model = _Recording()
        model.log = log
        return model

    held = held_out_uncertainty(make, X, texts, y, "margin", folds=3, seed=1)
    assert not recwarn.list  # no "least populated class" warning for the rare label
    assert held.shape == (len(y),) and np.isfinite(held).all()
    scored_by = {t: trained for trained, scored in log for t in scored}
    assert set(scored_by) == set(texts)  # every text scored exactly once
    assert sum(len(scored) for _, scored in log) == len(texts)
    for text, label in zip(texts, y, strict=True):
        # a frequent label's text is scored by a model that never saw it; a rare one in-sample
        assert (text in scored_by[text]) == (label == "rare")
    rare = {t for t, lab in zip(texts, y, strict=True) if lab == "rare"}
    assert all(rare <= trained for trained, _ in log)  # rare texts stay in every training part
    again = held_out_uncertainty(make, X, texts, y, "margin", folds=3, seed=1)
    assert (held == again).all()


def test_a_wrong_prior_fades_after_prior_weight_texts() -> None:
    rng = np.random.default_rng(6)
    prior = uncertainty_quantiles(rng.beta(3, 2, 3000))  # fit time: far more uncertain than the stream
    router = BudgetedRouter(share=0.3, prior=prior, prior_weight=100, payback=100)
    asked = _stream(router, rng.beta(1, 4, 2000), batch=16)
    assert asked[:64].mean() < 0.2  # the prior misleads the first batches...
    assert abs(asked.mean() - 0.3) < 0.01  # ...then the window and the owed calls take over
    assert abs(asked[500:].mean() - 0.3) < 0.03


# -- per-label boosts (drift handling) -----------------------------------------------------------------
LABELS = [f"label_{i}" for i in range(20)]


def _boosted_stream(
    router: BudgetedRouter, n: int, seed: int, boost_every: int, boosted: list[str], boost_texts: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Route ``n`` texts with 20 labels of equal traffic, boosting ``boosted`` every ``boost_every`` texts;
    returns (asked, escalated, label index) per text."""
    rng = np.random.default_rng(seed)
    unc = rng.random(n)
    top = rng.integers(len(LABELS), size=n)
    asked, escalated = np.zeros(n, bool), np.zeros(n, bool)
    for start in range(0, n, 32):
        if boost_every and start % boost_every == 0:
            router.boost(boosted, share=1.0, texts=boost_texts)
        u, labels = unc[start : start + 32], [LABELS[k] for k in top[start : start + 32]]
        a = router.ask(u)
        e = router.escalate(labels, u, a)
        assert not (a & e).any()
        asked[start : start + 32], escalated[start : start + 32] = a | e, e
    return asked, escalated, top


def test_a_boost_sends_every_text_of_its_labels_while_it_lasts() -> None:
    router = BudgetedRouter(share=0.1, window=1000, boost_cap=0.5)
    asked, _, _ = _boosted_stream(router, 4000, 0, 0, [], 0)
    router.boost(["label_3", "label_4"], share=1.0, texts=1024)
    more, extra, top2 = _boosted_stream(router, 2048, 1, 0, [], 0)
    boosted = np.isin(top2, [3, 4])
    assert more[:1024][boosted[:1024]].all()  # every text of a boosted label went to the judge...
    assert not extra[:1024][~boosted[:1024]].any()  # ...and only those were escalated
    assert not extra[1024:].any()  # the boost ended after 1024 texts
    assert more[1024:][boosted[1024:]].mean() < 0.3
    state = router.state()
    assert state.escalated == int(extra.sum()) > 0 and state.boosted == ()
    assert state.asked == int(asked.sum() + more.sum())


@pytest.mark.parametrize("horizon", [0, 2000])
def test_boosts_are_paid_back_so_the_long_run_share_holds(horizon: int) -> None:
    router = BudgetedRouter(share=0.1, window=1000, boost_horizon=horizon)
    every = 313 * 32  # a boost every 10,016 texts, 1,504 texts long
    asked, escalated, top = _boosted_stream(router, 60_000, 2, every, ["label_1", "label_2"], 1504)
    assert escalated.sum() > 400  # the boosts cost something...
    assert abs(asked.mean() - 0.1) < 0.005  # ...and the global share still holds over the long run
    boosted = np.isin(top, [1, 2])
    windows = [slice(s, s + 1504) for s in range(0, 60_000, every)]
    during = np.concatenate([np.arange(60_000)[w] for w in windows])
    assert asked[during][boosted[during]].mean() > 0.95
    # paid back by a slightly lower share for the other labels
    assert asked[~boosted].mean() < 0.1


def test_deferred_payback_spreads_the_cost_over_the_horizon() -> None:
    at_once = BudgetedRouter(share=0.1, window=1000, boost_horizon=0)
    spread = BudgetedRouter(share=0.1, window=1000, boost_horizon=20_000)
    shares = []
    for router in (at_once, spread):
        _boosted_stream(router, 3000, 3, 0, [], 0)
        router.boost(["label_1", "label_2", "label_3"], share=1.0, texts=1500)
        asked, _, top = _boosted_stream(router, 1500, 4, 0, [], 0)
        shares.append(asked[~np.isin(top, [1, 2, 3])].mean())
    # repaid at once, the other labels' share drops during the boost; deferred, it stays near target
    assert shares[0] < 0.07 < 0.085 < shares[1]
    assert spread.state().deferred > 0


def test_a_boost_below_one_escalates_the_more_uncertain_texts_and_the_cap_holds() -> None:
    router = BudgetedRouter(share=0.1, window=1000, boost_cap=0.05)
    _boosted_stream(router, 2000, 5, 0, [], 0)
    router.boost(LABELS, share=0.5, texts=10_000)
    unc = np.linspace(0, 1, 64)
    asked = router.ask(unc)
    extra = router.escalate([LABELS[0]] * 64, unc, asked)
    assert extra.sum() == 3  # 5 % of the batch
    assert unc[extra].min() > unc[~extra & ~asked].max()
    with pytest.raises(ConfigError):
        router.escalate([LABELS[0]], unc, asked)
    with pytest.raises(ConfigError):
        router.boost(["x"], share=0.0)
    with pytest.raises(ConfigError):
        BudgetedRouter(boost_horizon=-1)
