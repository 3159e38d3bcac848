from __future__ import annotations

import numpy as np
from core_synthetic import make_set
from scipy import sparse

from redline.core.flat_update import FlatUpdateSettings, stratified_rows, update_flat

DATA = make_set(6, 40, dim=16, seed=2)
CODES = np.repeat(np.arange(6), 40).astype(np.int64)


def test_stratified_rows_keep_the_caps_and_weigh_up_to_the_counts() -> None:
    codes = np.repeat(np.arange(4), [10, 20, 3, 7]).astype(np.int64)
    rows = np.arange(codes.size, dtype=np.int64)
    kept, weight = stratified_rows(codes, rows, np.array([2, 5, 5, 1]), np.random.default_rng(0))
    assert np.bincount(codes[kept], minlength=4).tolist() == [2, 5, 3, 1]
    sums = np.bincount(codes[kept], weights=weight, minlength=4)
    np.testing.assert_allclose(sums, [10, 20, 3, 7])
    assert len(set(kept.tolist())) == kept.size


def test_from_zero_on_every_row_it_solves_the_full_objective_like_scikit_learn() -> None:
    from sklearn.linear_model import LogisticRegression

    reference = LogisticRegression(C=10.0, tol=1e-10, max_iter=5000).fit(DATA.X, CODES)
    coef, intercept, moved = update_flat(
        sparse.csr_matrix(DATA.X.astype(np.float64)),
        CODES,
        np.arange(CODES.size, dtype=np.int64),
        np.zeros((6, 16), dtype=np.float32),
        np.zeros(6),
        C=10.0,
        seed=0,
        settings=FlatUpdateSettings(competitors=6, max_iter=500, columns="sample"),
    )
    assert moved.tolist() == list(range(6))
    # the softmax is invariant to a shift shared by every class: compare centred parameters
    np.testing.assert_allclose(coef, reference.coef_, atol=1e-2)
    np.testing.assert_allclose(
        intercept - intercept.mean(), reference.intercept_ - reference.intercept_.mean(), atol=2e-3
    )


def test_an_update_leaves_its_inputs_and_the_quiet_classes_alone() -> None:
    from sklearn.linear_model import LogisticRegression

    old = np.arange(CODES.size) % 40 < 30
    fit = LogisticRegression(C=10.0, max_iter=1000).fit(DATA.X[old], CODES[old])
    coef, intercept = fit.coef_.astype(np.float32), fit.intercept_.copy()
    coef_before, intercept_before = coef.copy(), intercept.copy()
    new_rows = np.flatnonzero(~old & (CODES == 2))
    order = np.r_[np.flatnonzero(old), new_rows]
    F = sparse.csr_matrix(DATA.X[order].astype(np.float64))
    new_coef, new_intercept, moved = update_flat(
        F,
        CODES[order],
        np.arange(old.sum(), order.size, dtype=np.int64),
        coef,
        intercept,
        C=10.0,
        seed=0,
        settings=FlatUpdateSettings(competitors=1),
    )
    np.testing.assert_array_equal(coef, coef_before)
    np.testing.assert_array_equal(intercept, intercept_before)
    assert 2 in moved.tolist() and len(moved) < 6
    quiet = [k for k in range(6) if k not in moved.tolist()]
    np.testing.assert_array_equal(new_coef[quiet], coef[quiet])
    np.testing.assert_array_equal(new_intercept[quiet], intercept[quiet])
    assert not np.array_equal(new_coef[2], coef[2])
    logits = DATA.X[new_rows] @ new_coef.T + new_intercept
    before = DATA.X[new_rows] @ coef.T + intercept
    assert np.mean(logits.argmax(1) == 2) >= np.mean(before.argmax(1) == 2)
