"""Calibrating the judge: the P(yes) threshold that best separates right from wrong labels.

A small model's "Yes" is poorly placed (measured: a 1.5B model said Yes to 46 % of balanced hard
questions, a 0.5B model to 6 %), but its P(yes) still ranks well (ROC AUC 0.87 / 0.74). So the
threshold on P(yes) is fitted on held-out judgements, true label versus nearest wrong label
(:func:`redline.judge.questions.hard_negative_questions`), and stored with the prompt version
and model it was fitted for: a threshold is only valid for the prompt and model that produced it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from redline.errors import InputDataError

#: the fewest scored judgements (with both answers present) a threshold is fitted on
MIN_QUESTIONS = 4


def roc_auc(scores: Sequence[float], truth: Sequence[bool]) -> float | None:
    """ROC AUC of ``scores`` for ``truth`` (ties count half); None with only one class present."""
    # deferred: scikit-learn takes seconds to import and every CLI command imports this module
    from sklearn.metrics import roc_auc_score

    t = np.asarray(truth, dtype=bool)
    if t.all() or not t.any():
        return None
    return float(roc_auc_score(t, np.asarray(scores, dtype=np.float64)))


def _accuracy(scores: NDArray[np.float64], truth: NDArray[np.bool_], threshold: float) -> float:
    return float(np.mean((scores >= threshold) == truth))


def fit_threshold(p_yes: Sequence[float], truth: Sequence[bool]) -> float:
    """The threshold on P(yes) with the highest accuracy on these judgements.

    Candidates are the midpoints between consecutive distinct scores (plus 0.5 and the ends);
    among equally accurate thresholds the one closest to 0.5 wins, so the fit is deterministic.

    Parameters
    ----------
    p_yes : sequence of float
        The judge's P(yes) per question.
    truth : sequence of bool
        Whether the proposed label was right.
    """
    scores = np.asarray(p_yes, dtype=np.float64)
    labels = np.asarray(truth, dtype=bool)
    if scores.shape != labels.shape or scores.ndim != 1:
        raise InputDataError("p_yes and truth must be 1-d and of the same length")
    if len(scores) == 0:
        raise InputDataError("no judgements to fit a threshold on")
    distinct = np.unique(scores)
    candidates = np.concatenate(
        [(distinct[:-1] + distinct[1:]) / 2.0, [0.5, 0.0, np.nextafter(distinct[-1], 2)]]
    )
    candidates = np.unique(np.clip(candidates, 0.0, 1.0))
    accuracies = np.array([_accuracy(scores, labels, float(t)) for t in candidates])
    best = accuracies.max()
    tied = candidates[accuracies >= best - 1e-12]
    return float(tied[np.argmin(np.abs(tied - 0.5))])


@dataclass(frozen=True)
class JudgeCalibration:
    """A fitted P(yes) threshold and how well it does.

    Parameters
    ----------
    threshold : float
        Verdict is yes when P(yes) >= threshold.
    prompt_version : str
        The prompt version the judgements were made with.
    model : str
        The model that made them.
    questions : int
        Questions asked; ``scored`` of them came back with a P(yes).
    scored : int
    accuracy : float
        Accuracy at ``threshold`` on all scored questions (in-sample).
    heldout_accuracy : float
        Mean accuracy of a threshold fitted on one half and applied to the other (2-fold, seeded).
    accuracy_at_half : float
        Accuracy at the uncalibrated threshold 0.5.
    word_accuracy : float or None
        Accuracy of the model's plain word, where it gave one.
    roc_auc : float or None
        ROC AUC of P(yes) (None when only one class is present).
    yes_rate : float
        Share of yes at ``threshold``.
    """

    threshold: float
    prompt_version: str
    model: str
    questions: int
    scored: int
    accuracy: float
    heldout_accuracy: float
    accuracy_at_half: float
    word_accuracy: float | None
    roc_auc: float | None
    yes_rate: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JudgeCalibration:
        """Inverse of :meth:`to_dict`; :class:`InputDataError` on a malformed record."""
        for key in ("threshold", "prompt_version"):
            if key not in data:
                raise InputDataError(f"calibration record lacks {key!r}")

        def opt(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        try:
            calibration = cls(
                threshold=float(data["threshold"]),
                prompt_version=str(data["prompt_version"]),
                model=str(data.get("model", "")),
                questions=int(data.get("questions", 0)),
                scored=int(data.get("scored", 0)),
                accuracy=float(data.get("accuracy", 0.0)),
                heldout_accuracy=float(data.get("heldout_accuracy", 0.0)),
                accuracy_at_half=float(data.get("accuracy_at_half", 0.0)),
                word_accuracy=opt("word_accuracy"),
                roc_auc=opt("roc_auc"),
                yes_rate=float(data.get("yes_rate", 0.0)),
            )
        except (TypeError, ValueError, OverflowError) as exc:
            raise InputDataError(f"calibration record has an invalid value: {exc}") from None
        if not 0.0 <= calibration.threshold <= 1.0:
            raise InputDataError(f"calibration threshold {calibration.threshold} is outside [0, 1]")
        return calibration


def _heldout_accuracy(scores: NDArray[np.float64], labels: NDArray[np.bool_], seed: int) -> float:
    order = np.random.default_rng(seed).permutation(len(scores))
    halves = (order[: len(order) // 2], order[len(order) // 2 :])
    results = []
    for fit_idx, test_idx in (halves, halves[::-1]):
        if len(fit_idx) == 0 or len(test_idx) == 0:
            continue
        t = fit_threshold(scores[fit_idx].tolist(), labels[fit_idx].tolist())
        results.append(_accuracy(scores[test_idx], labels[test_idx], t))
    return float(np.mean(results)) if results else 0.0


def calibrate(
    p_yes: Sequence[float | None],
    truth: Sequence[bool],
    *,
    prompt_version: str,
    model: str,
    words: Sequence[bool | None] | None = None,
    seed: int = 0,
) -> JudgeCalibration:
    """Fit the threshold on held-out judgements and measure it.

    Parameters
    ----------
    p_yes : sequence of float or None
        P(yes) per question (None where the judge gave none; those are skipped).
    truth : sequence of bool
        Whether the proposed label was right.
    prompt_version, model : str
        What the judgements were made with.
    words : sequence of bool or None, optional
        The plain yes/no per question, to report the uncalibrated word's accuracy.
    seed : int
        Seed of the 2-fold split for ``heldout_accuracy``.

    Raises
    ------
    InputDataError
        Fewer than :data:`MIN_QUESTIONS` scored judgements, or only one class among them.
    """
    if len(p_yes) != len(truth):
        raise InputDataError("p_yes and truth must have the same length")
    keep = [i for i, p in enumerate(p_yes) if p is not None]
    scores = np.array([float(p_yes[i]) for i in keep], dtype=np.float64)  # type: ignore[arg-type]
    labels = np.array([bool(truth[i]) for i in keep], dtype=bool)
    if len(keep) < MIN_QUESTIONS:
        raise InputDataError(
            f"only {len(keep)} of {len(p_yes)} judgements carry a P(yes) (need {MIN_QUESTIONS}); "
            "does the endpoint return logprobs?"
        )
    if labels.all() or not labels.any():
        raise InputDataError("the judgements hold only one kind of question (all right or all wrong labels)")
    threshold = fit_threshold(scores.tolist(), labels.tolist())
    word_accuracy = None
    if words is not None:
        pairs = [(w, t) for w, t in zip(words, truth, strict=True) if w is not None]
        word_accuracy = float(np.mean([w == t for w, t in pairs])) if pairs else None
    return JudgeCalibration(
        threshold=threshold,
        prompt_version=prompt_version,
        model=model,
        questions=len(p_yes),
        scored=len(keep),
        accuracy=_accuracy(scores, labels, threshold),
        heldout_accuracy=_heldout_accuracy(scores, labels, seed),
        accuracy_at_half=_accuracy(scores, labels, 0.5),
        word_accuracy=word_accuracy,
        roc_auc=roc_auc(scores.tolist(), labels.tolist()),
        yes_rate=float(np.mean(scores >= threshold)),
    )
