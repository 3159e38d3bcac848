from __future__ import annotations

import numpy as np
import pytest
from core_synthetic import make_set, split

from redline.core.classifier import RedClassifier
from redline.core.config import EngineConfig
from redline.core.features import FeatureBuilder
from redline.core.training_set import TrainingSet
from redline.errors import InputDataError, ModelError

DATA = make_set(12, 40, seed=3)
SEED, POOL, TEST = split(DATA, n_seed=15, n_test=10)
WORDS = ("refund card late", "open account", "lost phone pin", "transfer money abroad", "card declined")


def _texts(n: int, offset: int = 0) -> list[str]:
    return [f"{WORDS[(i + offset) % len(WORDS)]} number {i + offset}" for i in range(n)]


SEED_TEXTS, TEST_TEXTS = _texts(len(SEED)), _texts(len(TEST), 7)


def _cfg(scorer: str, features: str = "embedding+ngrams", **kw: object) -> EngineConfig:
    return EngineConfig(
        scorer=scorer, features=features, reducer="cosine", max_subset_size=4, max_iter=100, **kw
    )  # type: ignore[arg-type]


def _data(model: RedClassifier) -> TrainingSet:
    assert model.data_ is not None
    return model.data_


@pytest.mark.parametrize("scorer", ["flat", "subsets", "hybrid"])
def test_params_round_trip_scores_bitwise_identically(scorer: str) -> None:
    model = RedClassifier(_cfg(scorer)).fit(SEED.X, SEED_TEXTS, SEED.labels, {"label_000": "zero"})
    params = model.params_state()
    assert "texts" not in params and "X" not in params and params["n_train"] == len(SEED)
    again = RedClassifier.from_params(params)
    a, b = model.predict_scores(TEST.X, TEST_TEXTS), again.predict_scores(TEST.X, TEST_TEXTS)
    np.testing.assert_array_equal(a.proba, b.proba)
    np.testing.assert_array_equal(a.entropy, b.entropy)
    np.testing.assert_array_equal(a.margin, b.margin)
    assert again.descriptions_ == {"label_000": "zero"} and not again.has_data


def test_a_model_without_data_scores_but_does_not_learn() -> None:
    model = RedClassifier(_cfg("flat")).fit(SEED.X, SEED_TEXTS, SEED.labels)
    bare = RedClassifier.from_params(model.params_state())
    assert bare.nearest_examples(TEST.X[0], "label_000", 3) == []
    assert bare.X_.shape == (0, SEED.X.shape[1]) and len(bare.y_) == 0 and bare.n_train_ == len(SEED)
    for change in (
        lambda: bare.update(POOL.X[:2], POOL.texts[:2], POOL.labels[:2]),
        lambda: bare.learn(POOL.X[:2], POOL.texts[:2], POOL.labels[:2]),
        bare.refit,
        lambda: bare.remove_label("label_000"),
        lambda: bare.add_label("new", POOL.X[:2], ["a", "b"]),
        bare.to_state,
    ):
        with pytest.raises(ModelError, match="training examples"):
            change()
    assert bare.params_state()["n_train"] == len(SEED)  # the bare model still publishes its parameters


def test_params_with_data_learn_like_the_original() -> None:
    model = RedClassifier(_cfg("flat")).fit(SEED.X, SEED_TEXTS, SEED.labels)
    loaded = RedClassifier.from_params(
        model.params_state(), TrainingSet(SEED.X, tuple(SEED_TEXTS), SEED.labels)
    )
    assert loaded._F is None  # features of the training data are computed only when learning needs them
    ex = loaded.nearest_examples(SEED.X[0], SEED.labels[0], 2)
    assert ex == model.nearest_examples(SEED.X[0], SEED.labels[0], 2)
    rows = slice(0, 30)
    model.learn(POOL.X[rows], POOL.texts[rows], POOL.labels[rows])
    loaded.learn(POOL.X[rows], POOL.texts[rows], POOL.labels[rows])
    assert loaded._F is not None
    np.testing.assert_allclose(
        loaded.predict_proba(TEST.X, TEST_TEXTS), model.predict_proba(TEST.X, TEST_TEXTS), atol=1e-6
    )


def test_params_refuse_data_they_were_not_fitted_on() -> None:
    model = RedClassifier(_cfg("flat")).fit(SEED.X, SEED_TEXTS, SEED.labels)
    params = model.params_state()
    short = TrainingSet(SEED.X[:-1], tuple(SEED_TEXTS[:-1]), SEED.labels[:-1])
    with pytest.raises(ModelError, match="fitted on"):
        RedClassifier.from_params(params, short)
    labels = list(SEED.labels)
    labels[0] = "never-seen"
    with pytest.raises(ModelError, match="labels"):
        RedClassifier.from_params(params, TrainingSet(SEED.X, tuple(SEED_TEXTS), labels))
    with pytest.raises(ModelError, match="width"):
        RedClassifier.from_params(params, TrainingSet(SEED.X[:, :5], tuple(SEED_TEXTS), SEED.labels))


def test_damaged_params_are_refused_in_one_line() -> None:
    params = RedClassifier(_cfg("flat")).fit(SEED.X, SEED_TEXTS, SEED.labels).params_state()
    with pytest.raises(ModelError, match="format"):
        RedClassifier.from_params({**params, "format": "other"})
    with pytest.raises(ModelError, match="flat weights"):
        RedClassifier.from_params(
            {**params, "flat": {**params["flat"], "coef": params["flat"]["coef"][:, :7]}}
        )
    with pytest.raises(ModelError, match="incomplete or damaged"):
        RedClassifier.from_params({k: v for k, v in params.items() if k != "features"})
    with pytest.raises(ModelError, match="knn"):
        RedClassifier.from_params({**params, "config": {**params["config"], "knn": 3}})


def test_feature_builder_restores_from_vocabulary_without_texts() -> None:
    builder = FeatureBuilder("embedding+ngrams", 0.5).fit(SEED_TEXTS)
    state = builder.to_state()
    assert state["fitted_texts"] == len(SEED_TEXTS) and "texts" not in state
    again = FeatureBuilder.from_state(state)
    a, b = builder.transform(TEST.X, TEST_TEXTS), again.transform(TEST.X, TEST_TEXTS)
    assert (a != b).nnz == 0 and np.array_equal(a.indices, b.indices) and np.array_equal(a.data, b.data)
    with pytest.raises(ModelError):
        FeatureBuilder.from_state({**state, "blocks": state["blocks"][:1]})


def test_features_are_the_embedding_then_the_weighted_ngrams() -> None:
    builder = FeatureBuilder("embedding+ngrams", 0.5).fit(SEED_TEXTS)
    F = builder.transform(TEST.X, TEST_TEXTS)
    d = TEST.X.shape[1]
    np.testing.assert_array_equal(F[:, :d].toarray(), np.asarray(TEST.X, dtype=np.float64))
    ngrams = [0.5 * vec.transform(TEST_TEXTS).toarray() for vec in builder.vectorizers_]
    np.testing.assert_array_equal(F[:, d:].toarray(), np.hstack(ngrams))
    assert F.has_sorted_indices and F.shape == (len(TEST_TEXTS), d + sum(n.shape[1] for n in ngrams))


def test_state_without_vocabularies_still_loads() -> None:
    """Model folders written before the vocabularies were stored rebuild them from the texts."""
    model = RedClassifier(_cfg("flat")).fit(SEED.X, SEED_TEXTS, SEED.labels)
    old = {k: v for k, v in model.to_state().items() if k != "features"}
    again = RedClassifier.from_state(old)
    np.testing.assert_array_equal(
        again.predict_proba(TEST.X, TEST_TEXTS), model.predict_proba(TEST.X, TEST_TEXTS)
    )


def test_state_after_a_removed_label_round_trips() -> None:
    model = RedClassifier(_cfg("flat")).fit(SEED.X, SEED_TEXTS, SEED.labels)
    model.remove_label(SEED.labels[0])  # the vocabulary's texts are no longer the first rows
    again = RedClassifier.from_state(model.to_state())
    np.testing.assert_array_equal(
        again.predict_proba(TEST.X, TEST_TEXTS), model.predict_proba(TEST.X, TEST_TEXTS)
    )


def test_training_set_is_read_only_and_checked() -> None:
    data = TrainingSet(SEED.X, tuple(SEED_TEXTS), SEED.labels)
    with pytest.raises(ValueError):
        data.X[0, 0] = 1.0
    more = data.appended(POOL.X[:2], POOL.texts[:2], np.asarray(POOL.labels[:2]))
    assert len(more) == len(data) + 2 and len(data) == len(SEED)
    with pytest.raises(InputDataError):
        TrainingSet(SEED.X, tuple(SEED_TEXTS[:-1]), SEED.labels)
