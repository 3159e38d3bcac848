from __future__ import annotations

import numpy as np

from redline.core.uncertainty import margin_uncertainty, normalised_entropy


def test_entropy_and_margin_extremes() -> None:
    P = np.array([[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0.0, 0.0]])
    np.testing.assert_allclose(normalised_entropy(P), [0.0, 1.0, 0.5])
    np.testing.assert_allclose(margin_uncertainty(P), [0.0, 1.0, 1.0])
    np.testing.assert_allclose(margin_uncertainty(np.array([[0.7, 0.2, 0.1]])), [0.5])
