from __future__ import annotations

import numpy as np
import pytest

from redline.core.labels import label_embeddings
from redline.core.partition import MIN_LABELS_FOR_UMAP, LabelPartition, greedy_subsets
from redline.errors import InputDataError


def _unit(M: np.ndarray) -> np.ndarray:
    return M / np.linalg.norm(M, axis=1, keepdims=True)


def test_greedy_adds_the_label_least_similar_to_the_subset_mean() -> None:
    # 0 and 1 nearly identical, 2 opposite to 0, 3 orthogonal
    Z = np.array([[1.0, 0.0], [0.99, 0.14], [-1.0, 0.0], [0.0, 1.0]])
    groups = greedy_subsets(Z, max_subset_size=2, order=[0, 1, 2, 3])
    assert groups[0] == [0, 2]  # from 0 the least similar is its opposite
    assert groups[1] == [1, 3]  # 1 then the only remaining label
    assert sorted(i for g in groups for i in g) == [0, 1, 2, 3]


def test_greedy_uses_the_running_mean_not_the_start_label() -> None:
    Z = _unit(
        np.array([[1.0, 0.0, 0.0], [-1.0, 0.05, 0.0], [0.0, 1.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]])
    )
    groups = greedy_subsets(Z, max_subset_size=3, order=[0, 1, 2, 3, 4])
    # after {0, 1} the mean is ~ (0, 0.025, 0): the least similar is 3 (negative y), not 4
    assert groups[0] == [0, 1, 3]


def test_cosine_fallback_with_few_labels_says_so() -> None:
    rng = np.random.default_rng(0)
    labels = [f"l{i}" for i in range(MIN_LABELS_FOR_UMAP - 1)]
    part = LabelPartition(max_subset_size=4, reducer="umap").fit(
        _unit(rng.normal(size=(len(labels), 8))), labels
    )
    assert part.reducer_used_ == "cosine"
    assert part.notes_ and "too few for UMAP" in part.notes_[0]
    assert all(len(s) <= 4 for s in part.subsets_)
    assert sorted(lab for s in part.subsets_ for lab in s) == sorted(labels)


@pytest.mark.slow
def test_umap_partition_is_a_deterministic_cover() -> None:
    rng = np.random.default_rng(1)
    labels = [f"l{i}" for i in range(60)]
    E = _unit(rng.normal(size=(60, 16)))
    a = LabelPartition(max_subset_size=8, reducer="umap", seed=3).fit(E, labels)
    b = LabelPartition(max_subset_size=8, reducer="umap", seed=3).fit(E, labels)
    assert a.reducer_used_ == "umap"
    assert a.subsets_ == b.subsets_
    assert sorted(lab for s in a.subsets_ for lab in s) == sorted(labels)
    assert all(1 <= len(s) <= 8 for s in a.subsets_)
    assert len(a.subsets_) == 8  # 60 labels / 8 -> 7 full + 1


def test_subsets_hold_dissimilar_labels() -> None:
    # 10 tight clusters of 5 near-duplicate labels: a good partition never puts two twins together
    rng = np.random.default_rng(2)
    centres = np.eye(32)[:10]
    E = _unit(np.repeat(centres, 5, axis=0) + 0.01 * rng.normal(size=(50, 32)))
    labels = [f"c{i // 5}_{i % 5}" for i in range(50)]
    part = LabelPartition(max_subset_size=10, reducer="cosine").fit(E, labels)
    for s in part.subsets_:
        clusters = [lab.split("_")[0] for lab in s]
        assert len(set(clusters)) == len(clusters), s


def test_add_label_goes_to_least_similar_subset_with_room_else_new() -> None:
    E = np.eye(4)
    part = LabelPartition(max_subset_size=2, reducer="cosine").fit(E[:3], ["a", "b", "c"])
    room = [i for i, s in enumerate(part.subsets_) if len(s) < 2]
    assert len(room) == 1
    s = part.add_label("d", E[3])
    assert s == room[0] and "d" in part.subsets_[s]
    s2 = part.add_label("e", E[0])
    assert s2 == len(part.subsets_) - 1 and part.subsets_[s2] == ["e"]
    with pytest.raises(InputDataError):
        part.add_label("a", E[0])


def test_add_label_prefers_the_subset_it_is_least_similar_to() -> None:
    E = _unit(np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0.9, 0.1, 0], [0.1, 0.9, 0], [0, 0.1, 0.9]]))
    part = LabelPartition(max_subset_size=3, reducer="cosine").fit(E[:2], ["x", "y"])
    assert len(part.subsets_) == 1
    part = LabelPartition(max_subset_size=1, reducer="cosine").fit(E[:2], ["x", "y"])
    part.max_subset_size = 2  # both subsets now have room
    target = part.add_label("new", np.array([1.0, 0.0, 0.0]))
    assert part.subsets_[target][0] == "y"


def test_state_round_trip() -> None:
    rng = np.random.default_rng(4)
    E = _unit(rng.normal(size=(12, 8)))
    labels = [f"l{i}" for i in range(12)]
    part = LabelPartition(max_subset_size=5, reducer="cosine").fit(E, labels)
    again = LabelPartition.from_state(part.to_state())
    assert again.subsets_ == part.subsets_
    assert again.subset_of("l7") == part.subset_of("l7")


def test_label_embeddings_are_normalised_means_and_blend_descriptions() -> None:
    X = np.array([[2.0, 0.0], [0.0, 3.0], [1.0, 0.0]])
    E = label_embeddings(X, ["a", "a", "b"], ["a", "b"])
    np.testing.assert_allclose(E[0], [np.sqrt(0.5), np.sqrt(0.5)])
    np.testing.assert_allclose(E[1], [1.0, 0.0])
    Eb = label_embeddings(X, ["a", "a", "b"], ["a", "b"], {"b": np.array([0.0, 1.0])}, 0.5)
    np.testing.assert_allclose(Eb[1], [np.sqrt(0.5), np.sqrt(0.5)])
    with pytest.raises(InputDataError):
        label_embeddings(X, ["a", "a", "a"], ["a", "b"])
    with pytest.raises(InputDataError):
        LabelPartition().fit(np.eye(2), ["a", "a"])
