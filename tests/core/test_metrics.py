"""delivered_accuracy: the one definition shared by the offline evaluation and the stream summary."""

from __future__ import annotations

import math

import numpy as np
import pytest

from redline.core.metrics import delivered_accuracy
from redline.errors import InputDataError


def test_no_label_counts_as_wrong() -> None:
    assert delivered_accuracy(["a", None, "b", "c"], ["a", "a", "b", "b"]) == pytest.approx(0.5)
    assert delivered_accuracy([None, None], ["a", "b"]) == 0.0
    assert delivered_accuracy(["a", "b"], ["a", "b"]) == 1.0


def test_a_label_the_truth_never_uses_is_wrong_not_an_error() -> None:
    assert delivered_accuracy(["zzz", "a"], ["a", "a"]) == pytest.approx(0.5)


def test_numpy_strings_and_tuples_are_accepted() -> None:
    assert delivered_accuracy(np.asarray(["a", "b"]).tolist(), ("a", "c")) == pytest.approx(0.5)
    assert delivered_accuracy([np.str_("a")], np.asarray(["a"])) == 1.0


def test_empty_is_nan_and_lengths_must_match() -> None:
    assert math.isnan(delivered_accuracy([], []))
    with pytest.raises(InputDataError, match="2 emitted labels for 1 true labels"):
        delivered_accuracy(["a", "b"], ["a"])
