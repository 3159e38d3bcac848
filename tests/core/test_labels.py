"""label_embeddings: the normalised mean of normalised examples, blended with descriptions."""

from __future__ import annotations

import numpy as np
import pytest

from redline.core.labels import label_embeddings
from redline.errors import InputDataError


def test_mean_of_unit_rows_whatever_the_scale() -> None:
    X = np.array([[3.0, 0.0], [0.0, 0.5], [0.0, 2.0], [0.0, -7.0]])
    E = label_embeddings(X, ["a", "a", "b", "c"], ["a", "b", "c"])
    np.testing.assert_allclose(E, [[np.sqrt(0.5), np.sqrt(0.5)], [0.0, 1.0], [0.0, -1.0]])


def test_an_all_zero_example_stays_zero_and_adds_nothing() -> None:
    X = np.array([[0.0, 0.0], [0.0, 4.0], [0.0, 0.0]])
    E = label_embeddings(X, ["a", "a", "z"], ["a", "z"])
    np.testing.assert_allclose(E, [[0.0, 1.0], [0.0, 0.0]])  # a zero label vector is not NaN


def test_description_blend() -> None:
    X = np.array([[1.0, 0.0], [1.0, 0.0]])
    E = label_embeddings(X, ["a", "b"], ["a", "b"], {"a": np.array([0.0, 5.0])}, description_weight=0.5)
    np.testing.assert_allclose(E, [[np.sqrt(0.5), np.sqrt(0.5)], [1.0, 0.0]])


@pytest.mark.parametrize(
    ("X", "labels", "message"),
    [
        (np.array([[np.nan, 1.0]]), ["a"], "NaN or infinity"),
        (np.zeros((0, 2)), ["a"], "need examples"),
        (np.ones((1, 2)), ["a", "b"], "labels without examples: b"),
    ],
)
def test_bad_input_is_an_input_data_error(X: np.ndarray, labels: list[str], message: str) -> None:
    with pytest.raises(InputDataError, match=message):
        label_embeddings(X, ["a"] * X.shape[0], labels)


def test_unit_rows_is_scikit_learns_normalize() -> None:
    from sklearn.preprocessing import normalize

    from redline.core.labels import unit_rows

    rng = np.random.default_rng(3)
    M = rng.normal(size=(50, 12)) * rng.uniform(1e-3, 1e3, size=(50, 1))
    M[4] = 0.0
    M[7] = 1e-17  # below scikit-learn's zero threshold: left as it is
    np.testing.assert_allclose(unit_rows(M), normalize(M), rtol=1e-15, atol=0)
    assert np.all(unit_rows(M)[4] == 0.0) and np.all(unit_rows(M)[7] == 1e-17)
