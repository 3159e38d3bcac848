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
