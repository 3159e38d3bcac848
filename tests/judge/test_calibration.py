"""Threshold fitting on held-out judgements, and the hard-negative questions it is fitted on."""

from __future__ import annotations

import numpy as np
import pytest

from redline.errors import InputDataError
from redline.judge.calibration import JudgeCalibration, calibrate, fit_threshold, roc_auc
from redline.judge.questions import (
    hard_negative_questions,
    label_centroids,
    nearest_examples,
    nearest_wrong_labels,
)


def test_fit_threshold_separates_a_shifted_judge() -> None:
    # A judge whose P(yes) is low overall (like the 0.5B model that says Yes 6 % of the time) but ranks well.
    rng = np.random.default_rng(0)
    right = rng.uniform(0.15, 0.40, 100)
    wrong = rng.uniform(0.01, 0.20, 100)
    scores = np.concatenate([right, wrong]).tolist()
    truth = [True] * 100 + [False] * 100
    threshold = fit_threshold(scores, truth)
    assert 0.15 <= threshold <= 0.20
    cal = calibrate(scores, truth, prompt_version="judge-v1:mask:text", model="m")
    assert cal.accuracy > 0.85 and cal.accuracy_at_half == 0.5
    assert cal.heldout_accuracy > 0.8
    assert cal.roc_auc is not None and cal.roc_auc > 0.9
    assert cal.threshold == threshold


def test_fit_threshold_deterministic_and_prefers_half_on_ties() -> None:
    assert fit_threshold([0.1, 0.9], [False, True]) == 0.5
    assert fit_threshold([0.8, 0.9, 0.95], [False, True, True]) == pytest.approx(0.85)


def test_calibrate_skips_missing_scores_and_reports_words() -> None:
    scores = [0.9, None, 0.8, 0.2, 0.1, 0.3]
    truth = [True, True, True, False, False, False]
    words = [True, True, False, False, None, True]
    cal = calibrate(scores, truth, prompt_version="v", model="m", words=words)
    assert cal.questions == 6 and cal.scored == 5 and cal.accuracy == 1.0
    assert cal.word_accuracy == pytest.approx(3 / 5)


def test_calibrate_refuses_too_little_or_one_sided_data() -> None:
    with pytest.raises(InputDataError, match="logprobs"):
        calibrate([None, None, 0.5], [True, False, True], prompt_version="v", model="m")
    with pytest.raises(InputDataError, match="one kind"):
        calibrate([0.1, 0.2, 0.3, 0.4], [True] * 4, prompt_version="v", model="m")
    with pytest.raises(InputDataError, match="same length"):
        calibrate([0.1, 0.2], [True], prompt_version="v", model="m")
    with pytest.raises(InputDataError, match="no judgements"):
        fit_threshold([], [])


def test_calibration_record_round_trip() -> None:
    cal = calibrate([0.9, 0.8, 0.2, 0.1], [True, True, False, False], prompt_version="v", model="m")
    assert JudgeCalibration.from_dict(cal.to_dict()) == cal
    with pytest.raises(InputDataError, match="outside"):
        JudgeCalibration.from_dict({"threshold": 2.0, "prompt_version": "v"})
    with pytest.raises(InputDataError, match="lacks 'threshold'"):
        JudgeCalibration.from_dict({"prompt_version": "v"})
    with pytest.raises(InputDataError, match="invalid value"):
        JudgeCalibration.from_dict({"threshold": 0.5, "prompt_version": "v", "questions": "many"})


def _toy() -> tuple[list[str], list[str], np.ndarray]:
    # three labels; "b" sits close to "a", "c" far away
    rng = np.random.default_rng(1)
    centres = {"a": np.array([1.0, 0.0, 0.0]), "b": np.array([0.9, 0.3, 0.0]), "c": np.array([0.0, 0.0, 1.0])}
    texts, labels, rows = [], [], []
    for name, centre in centres.items():
        for i in range(5):
            texts.append(f"{name}{i}")
            labels.append(name)
            rows.append(centre + rng.normal(0, 0.02, 3))
    return texts, labels, np.array(rows)


def test_nearest_wrong_labels_by_centroid() -> None:
    _, labels, emb = _toy()
    names, centroids = label_centroids(emb, labels)
    assert names == ["a", "b", "c"]
    wrong = nearest_wrong_labels(names, centroids)
    assert wrong["a"] == "b" and wrong["b"] == "a" and wrong["c"] in ("a", "b")
    with pytest.raises(InputDataError, match="two labels"):
        nearest_wrong_labels(["a"], centroids[:1])
    with pytest.raises(InputDataError, match="embeddings"):
        label_centroids(emb, labels[:-1])


def test_nearest_examples_most_similar_first() -> None:
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    assert nearest_examples(np.array([1.0, 0.1]), emb, ["x", "y", "xy"], c=2) == ["x", "xy"]
    assert nearest_examples(np.array([1.0, 0.1]), emb, ["x", "y", "xy"], c=0) == []
    # cosine, not dot product: a long vector is not nearer; a zero vector is nearest to nothing
    emb2 = np.array([[10.0, 10.0], [0.0, 0.0], [1.0, 0.05]])
    assert nearest_examples(np.array([2.0, 0.0]), emb2, ["far", "zero", "near"], c=3) == [
        "near",
        "far",
        "zero",
    ]
    with pytest.raises(InputDataError, match="1 examples but 3 embeddings"):
        nearest_examples(np.array([1.0, 0.0]), emb, ["x"], c=1)


def test_hard_negative_questions_pairs_without_leaking_the_text() -> None:
    texts, labels, emb = _toy()
    questions = hard_negative_questions(
        texts, labels, emb, per_label=2, c=3, descriptions={"b": "bee"}, seed=3
    )
    assert len(questions) == 3 * 2 * 2
    assert sum(q.truth is True for q in questions) == sum(q.truth is False for q in questions) == 6
    for true_q, false_q in zip(questions[::2], questions[1::2], strict=True):
        assert true_q.text == false_q.text and true_q.truth and not false_q.truth
        assert labels[texts.index(true_q.text)] == true_q.label != false_q.label
        assert true_q.text not in true_q.context.examples  # held out
        assert len(true_q.context.examples) == 3
        assert all(labels[texts.index(e)] == false_q.label for e in false_q.context.examples)
    assert {q.label for q in questions if not q.truth and labels[texts.index(q.text)] == "a"} == {"b"}
    assert any(q.context.description == "bee" for q in questions)
    again = hard_negative_questions(texts, labels, emb, per_label=2, c=3, descriptions={"b": "bee"}, seed=3)
    assert again == questions


def test_roc_auc_matches_pairwise_definition() -> None:
    assert roc_auc([0.9, 0.8, 0.2, 0.1], [True, True, False, False]) == 1.0
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == 0.0
    assert roc_auc([0.5, 0.5], [True, False]) == 0.5
    assert roc_auc([0.3, 0.7, 0.4], [True, True, False]) == 0.5
    assert roc_auc([0.1], [True]) is None
    rng = np.random.default_rng(0)
    for _ in range(20):  # ties counted half, as in the Mann-Whitney statistic
        scores = rng.integers(0, 5, 30) / 4.0
        truth = rng.random(30) < 0.4
        pos, neg = scores[truth], scores[~truth]
        pairwise = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (
            len(pos) * len(neg)
        )
        assert roc_auc(scores.tolist(), truth.tolist()) == pytest.approx(pairwise)
