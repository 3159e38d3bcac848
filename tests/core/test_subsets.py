from __future__ import annotations

import numpy as np
import pytest
from core_synthetic import make_set

from redline.core.subsets import NOISE, StackedSubsets, SubsetClassifier, noise_indices
from redline.errors import ModelError


def _labels(n_per: dict[str, int]) -> np.ndarray:
    return np.asarray([lab for lab, n in n_per.items() for _ in range(n)])


def test_recipe_noise_is_twice_the_average_class_size() -> None:
    y = _labels({"a": 10, "b": 20, "c": 30, "d": 40, "e": 50})
    idx = noise_indices(y, ["a", "b"], "recipe", np.random.default_rng(0), factor=2.0)
    assert idx.size == 30  # 2 x (30 / 2)
    assert not np.isin(y[idx], ["a", "b"]).any()
    assert len(set(idx.tolist())) == idx.size


def test_all_and_stratified_noise() -> None:
    y = _labels({"a": 10, "b": 20, "c": 30, "d": 4})
    all_idx = noise_indices(y, ["a"], "all", np.random.default_rng(0))
    assert all_idx.tolist() == np.flatnonzero(y != "a").tolist()
    strat = noise_indices(y, ["a"], "stratified", np.random.default_rng(0), per_label=5)
    counts = {lab: int((y[strat] == lab).sum()) for lab in "abcd"}
    assert counts == {"a": 0, "b": 5, "c": 5, "d": 4}


def test_subset_classifier_learns_its_labels_and_noise() -> None:
    data = make_set(6, 40, seed=1)
    y = np.asarray(data.labels)
    mine = ["label_000", "label_001"]
    y_sub = np.where(np.isin(y, mine), y, NOISE)
    model = SubsetClassifier(mine, C=10.0).fit(data.X, y_sub.tolist())
    assert model.classes_.tolist() == [NOISE, *mine]
    P = model.predict_proba(data.X)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    acc = np.mean(model.classes_[P.argmax(axis=1)] == y_sub)
    assert acc > 0.9
    with pytest.raises(ModelError):
        SubsetClassifier(mine).fit(data.X, y.tolist())


def test_river_learn_one_moves_towards_the_label() -> None:
    data = make_set(4, 30, seed=2)
    y = np.asarray(data.labels)
    mine = ["label_000", "label_001"]
    y_sub = np.where(np.isin(y, mine), y, NOISE)
    model = SubsetClassifier(mine, backend="river", learning_rate=0.5).fit(data.X, y_sub.tolist())
    x = data.X[np.flatnonzero(y == "label_002")[0]]
    before = model.predict_proba_one(x)["label_000"]
    for _ in range(5):
        model.learn_one(x, "label_000")
    after = model.predict_proba_one(x)
    assert set(after) == {NOISE, *mine}
    assert after["label_000"] > before + 0.1
    # batch view and river view agree
    np.testing.assert_allclose(model.predict_proba(x[None, :])[0][1], after["label_000"])


def test_stacked_scoring_equals_per_subset_models() -> None:
    data = make_set(7, 20, seed=3)
    y = np.asarray(data.labels)
    groups = [["label_000", "label_003", "label_005"], ["label_001", "label_002"], ["label_004", "label_006"]]
    models = [SubsetClassifier(g).fit(data.X, np.where(np.isin(y, g), y, NOISE).tolist()) for g in groups]
    classes = sorted(set(data.labels))
    stacked = StackedSubsets(models, classes)
    L = stacked.logits(data.X[:10])
    for s, m in enumerate(models):
        np.testing.assert_allclose(
            L[:, s, : len(m.classes_)], m.decision_function(data.X[:10]), rtol=1e-4, atol=1e-4
        )
    for combine in ("raw", "noise-odds"):
        proba, entropy = stacked.scores(data.X[:10], combine)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert ((entropy >= 0) & (entropy <= 1 + 1e-9)).all()
    # raw: renormalised subset probabilities
    proba, _ = stacked.scores(data.X[:10], "raw")
    p0 = models[0].predict_proba(data.X[:10])[:, 1]  # label_000
    per_label = np.concatenate([m.predict_proba(data.X[:10])[:, 1:] for m in models], axis=1)
    np.testing.assert_allclose(proba[:, classes.index("label_000")], p0 / per_label.sum(axis=1), rtol=1e-4)
