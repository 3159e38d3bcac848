from __future__ import annotations

import numpy as np
import pytest
from core_synthetic import make_set, split

from redline.core.classifier import RedClassifier
from redline.core.config import EngineConfig
from redline.errors import ConfigError, InputDataError, ModelError

DATA = make_set(24, 50, seed=5)
SEED, POOL, TEST = split(DATA, n_seed=15, n_test=15)


def _cfg(**kw: object) -> EngineConfig:
    base: dict[str, object] = {"reducer": "cosine", "max_subset_size": 6, "features": "embedding"}
    base.update(kw)
    return EngineConfig(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "cfg",
    [
        _cfg(scorer="flat"),
        _cfg(scorer="subsets", noise="recipe", combine="raw", uncertainty="entropy"),
        _cfg(scorer="subsets", noise="all", combine="noise-odds"),
        _cfg(scorer="subsets", noise="stratified", noise_per_label=5),
        _cfg(scorer="hybrid"),
        _cfg(scorer="flat", knn=5),
        _cfg(scorer="flat", features="embedding+ngrams"),
    ],
)
def test_every_scorer_learns_and_gives_distributions(cfg: EngineConfig) -> None:
    model = RedClassifier(cfg).fit(SEED.X, SEED.texts, SEED.labels)
    assert model.classes_.tolist() == sorted(set(SEED.labels))
    s = model.predict_scores(TEST.X, TEST.texts)
    np.testing.assert_allclose(s.proba.sum(axis=1), 1.0, atol=1e-6)
    assert s.proba.shape == (len(TEST), 24)
    assert ((s.margin >= 0) & (s.margin <= 1 + 1e-9)).all()
    assert ((s.entropy >= 0) & (s.entropy <= 1 + 1e-9)).all()
    acc = np.mean(model.predict(TEST.X, TEST.texts) == np.asarray(TEST.labels))
    assert acc > 0.7, acc


def test_same_seed_same_model() -> None:
    cfg = _cfg(scorer="subsets", noise="recipe", seed=7)
    a = RedClassifier(cfg).fit(SEED.X, SEED.texts, SEED.labels).predict_proba(TEST.X, TEST.texts)
    b = RedClassifier(cfg).fit(SEED.X, SEED.texts, SEED.labels).predict_proba(TEST.X, TEST.texts)
    np.testing.assert_array_equal(a, b)


def test_learn_retrains_only_affected_subsets() -> None:
    model = RedClassifier(_cfg(scorer="subsets", noise="recipe")).fit(SEED.X, SEED.texts, SEED.labels)
    assert model.partition_ is not None
    before = [m.coef_.copy() for m in model.subset_models_]
    lab = POOL.labels[0]
    rows = [i for i, y in enumerate(POOL.labels) if y == lab][:5]
    model.learn(POOL.X[rows], [POOL.texts[i] for i in rows], [lab] * len(rows))
    s = model.partition_.subset_of(lab)
    assert model.last_retrained_ == [s]
    for k, m in enumerate(model.subset_models_):
        changed = not np.array_equal(m.coef_, before[k])
        assert changed == (k == s)
    assert len(model.y_) == len(SEED) + 5
    with pytest.raises(InputDataError):
        model.learn(POOL.X[:1], POOL.texts[:1], ["never-seen"])


def test_river_backend_updates_incrementally() -> None:
    model = RedClassifier(_cfg(scorer="subsets", backend="river")).fit(SEED.X, SEED.texts, SEED.labels)
    x = TEST.X[:1]
    target = next(c for c in model.classes_ if c != model.predict(x, TEST.texts[:1])[0])
    before = model.predict_proba(x, TEST.texts[:1])[0, model.classes_.tolist().index(target)]
    for _ in range(10):
        model.learn(x, TEST.texts[:1], [target])
    after = model.predict_proba(x, TEST.texts[:1])[0, model.classes_.tolist().index(target)]
    assert after > before


def test_add_label_retrains_only_its_subset_and_predicts_it() -> None:
    extra = make_set(25, 50, seed=5)  # same centres plus one new class (label_024)
    y = np.asarray(extra.labels)
    new = np.flatnonzero(y == "label_024")
    model = RedClassifier(_cfg(scorer="subsets")).fit(SEED.X, SEED.texts, SEED.labels)
    n_subsets = len(model.subset_models_)
    model.add_label("label_024", extra.X[new[:15]], [extra.texts[i] for i in new[:15]], "the new one")
    assert "label_024" in model.classes_
    assert model.partition_ is not None and len(model.last_retrained_) == 1
    assert len(model.subset_models_) in (n_subsets, n_subsets + 1)
    pred = model.predict(extra.X[new[15:]], [extra.texts[i] for i in new[15:]])
    assert np.mean(pred == "label_024") > 0.7
    with pytest.raises(InputDataError):
        model.add_label("label_024", extra.X[new[:2]], ["a", "b"])


@pytest.mark.parametrize("refit_flat", [False, True])
def test_flat_add_label_fits_the_new_class_without_forgetting_the_old(refit_flat: bool) -> None:
    extra = make_set(25, 50, seed=5)
    y = np.asarray(extra.labels)
    new = np.flatnonzero(y == "label_024")
    model = RedClassifier(_cfg(scorer="flat")).fit(SEED.X, SEED.texts, SEED.labels)
    before = np.mean(model.predict(TEST.X, TEST.texts) == np.asarray(TEST.labels))
    old_rows = model.flat_coef_.copy()
    model.add_label("label_024", extra.X[new[:15]], [extra.texts[i] for i in new[:15]], refit_flat=refit_flat)
    assert model.classes_.tolist() == sorted({*SEED.labels, "label_024"})
    assert model.flat_coef_.shape[0] == 25
    if not refit_flat:  # the old classes' weights are untouched
        keep = [i for i, c in enumerate(model.classes_) if c != "label_024"]
        np.testing.assert_array_equal(model.flat_coef_[keep], old_rows)
    pred_new = model.predict(extra.X[new[15:]], [extra.texts[i] for i in new[15:]])
    assert np.mean(pred_new == "label_024") > 0.8
    after = np.mean(model.predict(TEST.X, TEST.texts) == np.asarray(TEST.labels))
    assert after >= before - 0.03


@pytest.mark.parametrize("scorer", ["subsets", "flat", "hybrid"])
def test_state_round_trip_predicts_identically(scorer: str) -> None:
    features = "embedding+ngrams" if scorer == "flat" else "embedding"
    model = RedClassifier(_cfg(scorer=scorer, features=features)).fit(SEED.X, SEED.texts, SEED.labels)
    again = RedClassifier.from_state(model.to_state())
    np.testing.assert_allclose(
        again.predict_proba(TEST.X, TEST.texts), model.predict_proba(TEST.X, TEST.texts), rtol=1e-6, atol=1e-7
    )
    with pytest.raises(ModelError):
        RedClassifier.from_state({"format": "other"})


def test_nearest_examples_are_of_the_label_and_nearest_first() -> None:
    model = RedClassifier(_cfg(scorer="flat")).fit(SEED.X, SEED.texts, SEED.labels)
    lab = SEED.labels[0]
    ex = model.nearest_examples(SEED.X[0], lab, 3)
    assert ex[0] == SEED.texts[0] and len(ex) == 3
    assert all(SEED.labels[SEED.texts.index(t)] == lab for t in ex)


def test_bad_input_is_rejected_clearly() -> None:
    with pytest.raises(ModelError):
        RedClassifier().predict(TEST.X, TEST.texts)
    with pytest.raises(InputDataError):
        RedClassifier().fit(SEED.X, SEED.texts[:-1], SEED.labels)
    with pytest.raises(InputDataError):
        RedClassifier().fit(SEED.X[:3], SEED.texts[:3], ["a", "a", "a"])
    bad = SEED.X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InputDataError):
        RedClassifier().fit(bad, SEED.texts, SEED.labels)
    model = RedClassifier(_cfg(scorer="flat")).fit(SEED.X, SEED.texts, SEED.labels)
    with pytest.raises(ModelError):
        model.predict(SEED.X[:, :5], SEED.texts)
    with pytest.raises(ConfigError):
        EngineConfig(scorer="nope")
    with pytest.raises(ConfigError):
        EngineConfig.named("nope")
    assert EngineConfig.named("as-written", seed=3) == EngineConfig.as_written(seed=3)
