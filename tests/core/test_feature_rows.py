"""Training features that grow in place: the same matrices as stacking, and none handed out changes."""

from __future__ import annotations

import copy

import numpy as np
from core_synthetic import make_set, split
from scipy import sparse

from redline.core.classifier import RedClassifier
from redline.core.config import EngineConfig
from redline.core.feature_rows import FeatureRows, stacked

DATA = make_set(8, 50, seed=5)
SEED, POOL, TEST = split(DATA, n_seed=8, n_test=10)


def _block(rng: np.random.Generator, rows: int) -> sparse.csr_matrix:
    return sparse.random(rows, 40, density=0.2, format="csr", random_state=rng)


def test_appended_rows_equal_a_stack_and_earlier_matrices_stay_as_they_were() -> None:
    rng = np.random.default_rng(0)
    first = _block(rng, 30)
    F, room = stacked(first, _block(rng, 5), None)
    expected = [first.toarray(), F.toarray()]
    handed = [first, F]
    for rows in (1, 64, 300, 7):  # past the first room: the arrays grow
        block = _block(rng, rows)
        F, room = stacked(F, block, room)
        expected.append(np.vstack([expected[-1], block.toarray()]))
        handed.append(F)
    for matrix, dense in zip(handed, expected, strict=True):
        np.testing.assert_array_equal(matrix.toarray(), dense)
    assert F.indices.dtype == np.int32 and F.has_sorted_indices


def test_only_the_newest_holder_appends_in_place() -> None:
    rng = np.random.default_rng(1)
    F, room = stacked(_block(rng, 10), _block(rng, 2), None)
    a, room_a = stacked(F, _block(rng, 3), room)  # the newest: in place
    assert room_a is room
    b_block = _block(rng, 4)
    b, room_b = stacked(F, b_block, room)  # F is not the newest any more: its own room
    assert room_b is not room
    np.testing.assert_array_equal(b.toarray(), np.vstack([F.toarray(), b_block.toarray()]))
    assert a.shape[0] == 15 and b.shape[0] == 16
    np.testing.assert_array_equal(a[:12].toarray(), F.toarray())
    assert isinstance(room, FeatureRows)


def test_a_model_and_its_copies_learn_the_same_as_with_fresh_features() -> None:
    model = RedClassifier(EngineConfig(scorer="flat", features="embedding+ngrams")).fit(
        SEED.X, SEED.texts, SEED.labels
    )
    model._train_features()
    twin = model.copy()
    deep = copy.deepcopy(model)
    for other in (model, twin, deep):
        for lo in range(0, 60, 20):
            rows = slice(lo, lo + 20)
            other.update(POOL.X[rows], POOL.texts[rows], POOL.labels[rows])
    twin.update(POOL.X[60:70], POOL.texts[60:70], POOL.labels[60:70])  # one more step on one of them
    for other in (model, twin, deep):
        fresh = other.features_.transform(other.X_, other.texts_)
        np.testing.assert_array_equal(other._train_features().toarray(), fresh.toarray())
    np.testing.assert_array_equal(model.flat_coef_, deep.flat_coef_)


def test_a_relearn_keeps_the_room_for_the_next_step() -> None:
    """Relearning appends its rows in place and drops them again: the next learning step still appends
    in place (at 1000 labels a fresh room copies 190 MiB), with the features a fresh transform gives."""
    model = RedClassifier(EngineConfig(scorer="flat", features="embedding+ngrams")).fit(
        SEED.X, SEED.texts, SEED.labels
    )
    model.relearn(POOL.X[:5], POOL.texts[:5], POOL.labels[:5])  # features computed for it, then kept
    assert model._F is not None and model._F.shape[0] == len(SEED)
    model.update(POOL.X[5:20], POOL.texts[5:20], POOL.labels[5:20])
    room = model._F_rows
    model.relearn(POOL.X[:10], POOL.texts[:10], POOL.labels[:10])
    assert model._F_rows is room and room.holds(model._F) and model._F.shape[0] == len(SEED) + 15
    model.update(POOL.X[20:40], POOL.texts[20:40], POOL.labels[20:40])
    assert model._F_rows is room  # in place
    fresh = model.features_.transform(model.X_, model.texts_)
    np.testing.assert_array_equal(model._train_features().toarray(), fresh.toarray())
