from __future__ import annotations

import numpy as np

from redline.core.uncertainty import (
    Action,
    RoutingPolicy,
    margin_uncertainty,
    normalised_entropy,
    ranked_candidates,
)


def test_entropy_and_margin_extremes() -> None:
    P = np.array([[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0.0, 0.0]])
    np.testing.assert_allclose(normalised_entropy(P), [0.0, 1.0, 0.5])
    np.testing.assert_allclose(margin_uncertainty(P), [0.0, 1.0, 1.0])
    np.testing.assert_allclose(margin_uncertainty(np.array([[0.7, 0.2, 0.1]])), [0.5])


def test_routing_accepts_confident_and_orders_candidates() -> None:
    P = np.array([[0.97, 0.02, 0.01], [0.4, 0.35, 0.25]])
    classes = ["a", "b", "c"]
    policy = RoutingPolicy(accept_below=0.2, max_candidates=2)
    routes = policy.route(P, classes, margin_uncertainty(P))
    assert routes[0].action is Action.ACCEPT and routes[0].label == "a"
    assert routes[1].action is Action.ASK and routes[1].candidates == ("a", "b")
    assert RoutingPolicy.resolve(routes[1], [False, True]).label == "b"
    assert RoutingPolicy.resolve(routes[1], [False, False]).action is Action.UNRESOLVED
    assert RoutingPolicy.resolve(routes[1], [False]).action is Action.ASK
    assert ranked_candidates(P, classes, 5) == [["a", "b", "c"], ["a", "b", "c"]]
