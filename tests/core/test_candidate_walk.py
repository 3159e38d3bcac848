"""The one candidate walk: the same order and stop rules offline and in the stream."""

from __future__ import annotations

import numpy as np
import pytest

from redline.core.candidate_walk import CandidateWalk, Outcome
from redline.errors import ConfigError

CLASSES = ["a", "b", "c", "d"]
P = np.array([[0.1, 0.5, 0.3, 0.1], [0.4, 0.3, 0.2, 0.1]])


def test_candidates_are_ranked_best_first_and_capped() -> None:
    assert CandidateWalk(3).candidates(P, CLASSES) == [("b", "c", "a"), ("a", "b", "c")]


def test_many_labels_rank_as_a_stable_full_sort_would_ties_and_nan_included() -> None:
    rng = np.random.default_rng(0)
    classes = [f"l{j}" for j in range(1000)]
    proba = rng.dirichlet(np.full(1000, 0.1), size=64)
    proba[3, :10] = proba[3, 0]  # a tie across the cut: the lower columns first
    proba[5] = 0.0
    proba[5, 7] = 1.0  # one label, every other tied at zero
    proba[6, 2] = np.nan
    top = np.argsort(-proba, axis=1, kind="stable")[:, :5]
    expected = [tuple(classes[j] for j in row) for row in top.tolist()]
    assert CandidateWalk(5).candidates(proba, classes) == expected
    assert expected[5] == ("l7", "l0", "l1", "l2", "l3")


def test_rejected_labels_are_never_offered_again_and_count_against_the_cap() -> None:
    got = CandidateWalk(3).candidates(P, CLASSES, [{"b"}, set()])
    assert got == [("c", "a"), ("a", "b", "c")]


def test_first_yes_on_the_top_label_validates() -> None:
    step = CandidateWalk(3).step(("b", "c", "a"), [True])
    assert (step.outcome, step.label, step.index) == (Outcome.VALIDATED, "b", 0)
    assert step.outcome.labelled and step.outcome.decided


def test_a_no_moves_to_the_next_candidate_and_a_later_yes_corrects() -> None:
    walk = CandidateWalk(3)
    assert walk.step(("b", "c", "a"), []).label == "b"
    nxt = walk.step(("b", "c", "a"), [False])
    assert (nxt.outcome, nxt.label, nxt.index) == (Outcome.ASK, "c", 1)
    done = walk.step(("b", "c", "a"), [False, True])
    assert (done.outcome, done.label) == (Outcome.CORRECTED, "c")


def test_a_yes_after_rejections_in_an_earlier_round_is_a_correction() -> None:
    assert CandidateWalk(3).step(("c",), [True], rejected_before=1).outcome is Outcome.CORRECTED


def test_all_rejected_is_unresolved() -> None:
    step = CandidateWalk(2).step(("b", "c"), [False, False])
    assert (step.outcome, step.label) == (Outcome.UNRESOLVED, None)
    assert CandidateWalk(2).step((), []).outcome is Outcome.UNRESOLVED


def test_a_failed_judgement_is_not_a_no() -> None:
    step = CandidateWalk(3).step(("b", "c", "a"), [False, None])
    assert (step.outcome, step.label, step.index) == (Outcome.JUDGE_FAILED, None, 1)
    assert step.outcome.decided and not step.outcome.labelled


def test_max_candidates_must_be_positive() -> None:
    with pytest.raises(ConfigError):
        CandidateWalk(0)
