from __future__ import annotations

import copy

import numpy as np
import pytest
from core_synthetic import make_set, split

from redline.core.classifier import RedClassifier
from redline.core.config import EngineConfig
from redline.errors import InputDataError

DATA = make_set(16, 60, seed=11)
SEED, POOL, TEST = split(DATA, n_seed=6, n_test=15)


def _cfg(scorer: str = "flat", **kw: object) -> EngineConfig:
    base: dict[str, object] = {
        "scorer": scorer,
        "reducer": "cosine",
        "max_subset_size": 5,
        "features": "embedding",
    }
    base.update(kw)
    return EngineConfig(**base)  # type: ignore[arg-type]


def _acc(model: RedClassifier) -> float:
    return float(np.mean(model.predict(TEST.X, TEST.texts) == np.asarray(TEST.labels)))


def _stream(model: RedClassifier, method: str, batch: int = 32) -> RedClassifier:
    for lo in range(0, len(POOL), batch):
        rows = slice(lo, lo + batch)
        getattr(model, method)(POOL.X[rows], POOL.texts[rows], POOL.labels[rows])
    return model


@pytest.mark.parametrize("features", ["embedding", "embedding+ngrams"])
def test_update_stream_ends_near_the_exact_refit(features: str) -> None:
    model = RedClassifier(_cfg(features=features)).fit(SEED.X, SEED.texts, SEED.labels)
    seed_acc = _acc(model)
    updated = _stream(model, "update")
    assert len(updated.y_) == len(SEED) + len(POOL)
    refit = copy.deepcopy(updated).refit()
    assert _acc(updated) >= _acc(refit) - 0.02
    assert _acc(updated) > seed_acc


def test_update_calls_its_pause_between_evaluations_and_learns_the_same() -> None:
    """A worker's pause (it yields the CPU there) is called during the optimisation and changes nothing."""
    plain = RedClassifier(_cfg()).fit(SEED.X, SEED.texts, SEED.labels)
    paused = copy.deepcopy(plain)
    calls: list[int] = []
    rows = slice(0, 32)
    plain.update(POOL.X[rows], POOL.texts[rows], POOL.labels[rows])
    paused.update(POOL.X[rows], POOL.texts[rows], POOL.labels[rows], pause=lambda: calls.append(1))
    assert len(calls) >= 2  # once per evaluation of the objective: the start and each step tried
    np.testing.assert_array_equal(paused.flat_coef_, plain.flat_coef_)
    np.testing.assert_array_equal(paused.flat_intercept_, plain.flat_intercept_)


def test_update_moves_predictions_towards_the_new_labels() -> None:
    model = RedClassifier(_cfg()).fit(SEED.X, SEED.texts, SEED.labels)
    x, text = TEST.X[:1], TEST.texts[:1]
    target = next(c for c in model.classes_.tolist() if c != model.predict(x, text)[0])
    col = model.classes_.tolist().index(target)
    before = model.predict_proba(x, text)[0, col]
    for _ in range(3):
        model.update(np.repeat(x, 8, axis=0), text * 8, [target] * 8)
    assert model.predict_proba(x, text)[0, col] > before
    assert model.predict(x, text)[0] == target


@pytest.mark.parametrize("make_copy", [copy.deepcopy, RedClassifier.copy])
def test_update_on_a_copy_leaves_the_original_unchanged(make_copy: object) -> None:
    model = RedClassifier(_cfg(scorer="hybrid")).fit(SEED.X, SEED.texts, SEED.labels, {"label_001": "one"})
    before = model.predict_proba(TEST.X, TEST.texts)
    state = model.to_state()
    other = make_copy(model)  # type: ignore[operator]
    other.update(POOL.X[:40], POOL.texts[:40], POOL.labels[:40])
    other.add_label("label_new", POOL.X[40:45], POOL.texts[40:45], "new")
    other.remove_label("label_002")
    other.set_description("label_001", "changed")
    np.testing.assert_array_equal(model.predict_proba(TEST.X, TEST.texts), before)
    assert len(model.y_) == len(SEED) and model.descriptions_ == {"label_001": "one"}
    assert model.to_state()["classes"] == state["classes"]
    assert model.partition_ is not None and "label_new" not in model.partition_.labels_


def test_river_update_on_a_copy_leaves_the_original_unchanged() -> None:
    model = RedClassifier(_cfg(scorer="subsets", backend="river")).fit(SEED.X, SEED.texts, SEED.labels)
    before = model.predict_proba(TEST.X, TEST.texts)
    other = model.copy()
    other.update(POOL.X[:20], POOL.texts[:20], POOL.labels[:20])
    assert not np.array_equal(other.predict_proba(TEST.X, TEST.texts), before)
    np.testing.assert_array_equal(model.predict_proba(TEST.X, TEST.texts), before)


def test_update_retrains_only_the_affected_subsets() -> None:
    model = RedClassifier(_cfg(scorer="subsets")).fit(SEED.X, SEED.texts, SEED.labels)
    assert model.partition_ is not None
    before = [m.coef_.copy() for m in model.subset_models_]
    lab = POOL.labels[0]
    rows = [i for i, y in enumerate(POOL.labels) if y == lab][:4]
    model.update(POOL.X[rows], [POOL.texts[i] for i in rows], [lab] * 4)
    s = model.partition_.subset_of(lab)
    assert model.last_retrained_ == [s]
    assert [not np.array_equal(m.coef_, before[k]) for k, m in enumerate(model.subset_models_)] == [
        k == s for k in range(len(before))
    ]
    with pytest.raises(InputDataError, match="add_label"):
        model.update(POOL.X[:1], POOL.texts[:1], ["never-seen"])


@pytest.mark.parametrize("scorer", ["flat", "subsets", "hybrid"])
def test_remove_label_is_never_predicted_again(scorer: str) -> None:
    model = RedClassifier(_cfg(scorer=scorer)).fit(SEED.X, SEED.texts, SEED.labels, {"label_003": "three"})
    gone = "label_003"
    old_coef = model.flat_coef_.copy() if scorer != "subsets" else None
    model.remove_label(gone)
    assert gone not in model.classes_.tolist() and gone not in model.descriptions_
    assert gone not in model.y_.tolist() and len(model.y_) == len(SEED) - 6
    assert gone not in model.predict(DATA.X, DATA.texts).tolist()
    assert model.predict_proba(TEST.X, TEST.texts).shape[1] == 15
    assert model.nearest_examples(TEST.X[0], gone, 3) == []
    if old_coef is not None:  # the flat softmax keeps every other row as it was
        np.testing.assert_array_equal(model.flat_coef_, np.delete(old_coef, 3, axis=0))
    if model.partition_ is not None:
        assert gone not in model.partition_.labels_
        assert sorted(lab for s in model.partition_.subsets_ for lab in s) == model.classes_.tolist()
    model.update(POOL.X[:20], POOL.texts[:20], [c if c != gone else "label_004" for c in POOL.labels[:20]])
    model.refit()
    assert gone not in model.predict(DATA.X, DATA.texts).tolist()
    with pytest.raises(InputDataError, match="unknown"):
        model.remove_label(gone)


def test_remove_label_drops_an_emptied_subset() -> None:
    model = RedClassifier(_cfg(scorer="subsets", max_subset_size=1)).fit(SEED.X, SEED.texts, SEED.labels)
    n = len(model.subset_models_)
    model.remove_label("label_005")
    assert len(model.subset_models_) == n - 1 and model.last_retrained_ == []
    assert "label_005" not in model.predict(DATA.X, DATA.texts).tolist()


def test_remove_label_keeps_two_labels() -> None:
    three = [i for i, y in enumerate(SEED.labels) if y in ("label_000", "label_001", "label_002")]
    model = RedClassifier(_cfg()).fit(
        SEED.X[three], [SEED.texts[i] for i in three], [SEED.labels[i] for i in three]
    )
    model.remove_label("label_000")
    with pytest.raises(InputDataError, match="at least 2"):
        model.remove_label("label_001")


def test_set_description() -> None:
    model = RedClassifier(_cfg()).fit(SEED.X, SEED.texts, SEED.labels)
    model.set_description("label_001", "a description")
    assert model.descriptions_["label_001"] == "a description"
    assert model.params_state()["descriptions"] == {"label_001": "a description"}
    model.set_description("label_001", "")
    assert "label_001" not in model.descriptions_
    with pytest.raises(InputDataError, match="unknown"):
        model.set_description("nope", "x")


def test_the_flat_weights_stay_column_major_through_every_change() -> None:
    """Scoring never has to copy the weights (``_flat_weights``): every change keeps the layout."""
    model = RedClassifier(_cfg()).fit(SEED.X, SEED.texts, SEED.labels)

    def column_major() -> bool:
        return bool(model.flat_coef_.flags.f_contiguous) and model.flat_coef_.dtype == np.float32

    assert column_major()
    model.update(POOL.X[:32], POOL.texts[:32], POOL.labels[:32])
    assert column_major()
    new = POOL.X[:5] + 0.5
    model.add_label("brand_new", new, [f"new {i}" for i in range(5)], "a new label")
    assert column_major()
    model.remove_label(model.classes_[0])
    assert column_major()
    restored = RedClassifier.from_params(model.params_state())
    assert restored.flat_coef_.flags.f_contiguous and restored.flat_coef_.dtype == np.float32


@pytest.mark.parametrize(("scorer", "features"), [("flat", "embedding+ngrams"), ("subsets", "embedding")])
def test_relearn_moves_the_model_and_keeps_the_training_data(scorer: str, features: str) -> None:
    """Relearning (after a drift) weighs examples again; the data stays what a snapshot's reader rebuilds
    the learning model from (the examples learned, each once)."""
    model = RedClassifier(_cfg(scorer=scorer, features=features)).fit(SEED.X, SEED.texts, SEED.labels)
    model.update(POOL.X[:40], POOL.texts[:40], POOL.labels[:40])
    data = model.data_
    x, text = TEST.X[:1], TEST.texts[:1]
    target = next(c for c in model.classes_.tolist() if c != model.predict(x, text)[0])
    col = model.classes_.tolist().index(target)
    before = model.predict_proba(x, text)[0, col]
    model.relearn(np.repeat(x, 8, axis=0), text * 8, [target] * 8)
    assert model.predict_proba(x, text)[0, col] > before
    assert model.data_ is data and model.n_train_ == len(SEED) + 40
    # a new leader rebuilds it from the parameters and the examples learned, and learns on
    again = RedClassifier.from_params(model.params_state(), data)
    proba = model.predict_proba(TEST.X, TEST.texts)
    np.testing.assert_allclose(again.predict_proba(TEST.X, TEST.texts), proba)
    again.update(POOL.X[40:60], POOL.texts[40:60], POOL.labels[40:60])
    assert again.n_train_ == len(SEED) + 60


@pytest.mark.parametrize("features", ["embedding", "embedding+ngrams"])
def test_an_update_reads_only_the_rows_it_samples_and_moves_the_model_alike(features: str) -> None:
    """A loaded model's update transforms its new and sampled rows only (no training feature matrix);
    the update is the one it makes with every row's features computed."""
    fitted = RedClassifier(_cfg(features=features)).fit(SEED.X, SEED.texts, SEED.labels)
    lazy, full = (RedClassifier.from_state(fitted.to_state()) for _ in range(2))
    full._train_features()  # every row's features, as a refit leaves them
    for model in (lazy, full):
        model.update(POOL.X[:40], POOL.texts[:40], POOL.labels[:40])
        model.update(POOL.X[40:80], POOL.texts[40:80], POOL.labels[40:80])
    assert lazy._F is None and full._F is not None and full._F.shape[0] == len(SEED) + 80
    np.testing.assert_array_equal(lazy.flat_coef_, full.flat_coef_)
    np.testing.assert_array_equal(lazy.flat_intercept_, full.flat_intercept_)
    np.testing.assert_array_equal(
        lazy.predict_proba(TEST.X, TEST.texts), full.predict_proba(TEST.X, TEST.texts)
    )
