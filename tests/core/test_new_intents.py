from __future__ import annotations

import numpy as np
import pytest

from redline.core.new_intents import NewIntentDetector, NewIntentSettings, proposed_name
from redline.errors import ConfigError, InputDataError

DIM = 64


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _scattered(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random directions: in 64 dimensions nearly orthogonal to each other (cosine about 0 +- 0.12)."""
    return _unit(rng.normal(size=(n, DIM)))


def _cluster(rng: np.random.Generator, n: int, spread: float = 0.5) -> np.ndarray:
    """Texts around one centre (cosine to it about 0.9)."""
    centre = _unit(rng.normal(size=DIM))
    return _unit(centre + spread * rng.normal(size=(n, DIM)) / np.sqrt(DIM))


def _observe_all(detector: NewIntentDetector, X: np.ndarray, names: list[str]) -> list:
    out = []
    for i, (x, name) in enumerate(zip(X, names, strict=True)):
        out += detector.observe(f"{name}-{i}", x, f"text {name} {i}")
    return out


@pytest.mark.parametrize("seed", range(3))
def test_a_planted_cluster_is_found_among_scattered_texts(seed: int) -> None:
    rng = np.random.default_rng(seed)
    X = np.vstack([_scattered(rng, 300), _cluster(rng, 20)])
    names = ["noise"] * 300 + ["planted"] * 20
    order = rng.permutation(len(names))
    detector = NewIntentDetector(NewIntentSettings(min_size=12, examples=8, every=10))
    found = _observe_all(detector, X[order], [names[i] for i in order.tolist()])
    assert len(found) == 1
    s = found[0]
    assert s.cluster == 1 and 12 <= s.size <= 20
    assert all(k.startswith("planted-") for k in s.keys) and len(s.keys) == 8
    assert s.texts[0].startswith("text planted")
    assert s.embeddings.shape == (8, DIM)
    assert s.cohesion > 0.8
    # the most typical texts come first: nearest to the centroid
    centroid = _unit(s.embeddings.mean(axis=0))
    sims = s.embeddings @ centroid
    assert sims[0] >= sims[-1]
    assert s.to_dict()["keys"] == list(s.keys)


@pytest.mark.parametrize("seed", range(3))
def test_scattered_texts_are_never_suggested(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    detector = NewIntentDetector(NewIntentSettings(every=20))
    assert _observe_all(detector, _scattered(rng, 1500), ["noise"] * 1500) == []
    assert detector.stats() == {"unresolved": 1500, "window": 500, "suggested": 0}


def test_a_cluster_is_suggested_once_and_a_second_one_separately() -> None:
    rng = np.random.default_rng(7)
    first, second = _cluster(rng, 80), _cluster(rng, 40)
    detector = NewIntentDetector(NewIntentSettings(min_size=10))
    found = _observe_all(detector, first, ["first"] * 80)
    assert [s.cluster for s in found] == [1]
    assert found[0].at == 10
    found = _observe_all(detector, np.vstack([first[:20], second]), ["first"] * 20 + ["second"] * 40)
    assert [s.cluster for s in found] == [2]
    assert all(k.startswith("second-") for k in found[0].keys)


def test_a_cluster_thinner_than_the_window_is_not_suggested() -> None:
    rng = np.random.default_rng(9)
    members = _cluster(rng, 30)
    detector = NewIntentDetector(NewIntentSettings(window=100, min_size=12))
    found = []
    for i in range(30):  # one cluster text per 20 scattered ones: never 12 in a window of 100
        found += _observe_all(detector, _scattered(rng, 20), ["noise"] * 20)
        found += detector.observe(f"member-{i}", members[i], "member")
    assert found == []


def test_a_loose_chain_is_not_an_intent() -> None:
    rng = np.random.default_rng(10)
    # points around a great circle: each close to its neighbours, none to the centroid (clustered once)
    a, b = _unit(rng.normal(size=DIM)), _unit(rng.normal(size=DIM))
    b = _unit(b - (b @ a) * a)
    angles = rng.permutation(np.linspace(0, 2 * np.pi, 120, endpoint=False))
    chain = np.cos(angles)[:, None] * a + np.sin(angles)[:, None] * b
    settings = NewIntentSettings(similarity=0.9, min_neighbours=2, min_size=12, every=120)
    assert _observe_all(NewIntentDetector(settings), chain, ["chain"] * 120) == []
    # the same settings do suggest a compact group beside the chain
    both = np.vstack([chain[:90], _cluster(rng, 30, spread=0.2)])
    assert [s.size for s in _observe_all(NewIntentDetector(settings), both, ["x"] * 120)] == [30]


def test_bad_input_is_rejected() -> None:
    detector = NewIntentDetector()
    with pytest.raises(InputDataError):
        detector.observe("a", np.zeros(DIM), "zero")
    with pytest.raises(InputDataError):
        detector.observe("b", np.full(DIM, np.nan), "nan")
    detector.observe("c", np.ones(DIM), "fine")
    with pytest.raises(InputDataError):
        detector.observe("d", np.ones(DIM + 1), "other dimension")


@pytest.mark.parametrize(
    "kwargs",
    [{"window": 1}, {"min_neighbours": 1}, {"min_size": 3, "min_neighbours": 4}, {"similarity": 1.0},
     {"min_cohesion": 0.0}, {"examples": 0}],
)  # fmt: skip
def test_bad_settings_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        NewIntentSettings(**kwargs)


def test_a_proposed_name_comes_from_the_words_most_texts_share() -> None:
    texts = ["how long until my replacement card arrives", "when will the replacement card get here",
             "replacement card delivery time", "my new card, how long?"]  # fmt: skip
    assert proposed_name(texts, "new_intent_1") == "new_card_replacement"
    assert proposed_name(["hello there", "what is the time"], "new_intent_2") == "new_intent_2"
