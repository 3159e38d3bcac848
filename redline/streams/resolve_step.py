"""The resolve step: fold a verdict into the text's candidate walk; the next question or the result.

The walk is the engine's (:class:`redline.core.candidate_walk.CandidateWalk`, the same rules as
``redline evaluate``): a "yes" labels the text (*validated*: the model's top label; *corrected*: a lower
candidate), a "no" asks the next candidate, all rejected ends *unresolved*, and a judge failure ends
*judge_unavailable* (never learned). A judge-confirmed result comes with the example to learn.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from redline.core.candidate_walk import CandidateWalk, Outcome
from redline.schemas import JudgeInfo, JudgeRequest, JudgeVerdict, LabelResult, decode_embedding


@dataclass(frozen=True)
class LearnedExample:
    """A judge-confirmed example, ready to learn: embedding, text, label and how it was confirmed."""

    x: np.ndarray
    text: str
    label: str
    source: Literal["validated", "corrected"]


@dataclass(frozen=True)
class Resolution:
    """The next record for a text and, for a judge-confirmed result, the example to learn."""

    next: JudgeRequest | LabelResult
    learn: LearnedExample | None = None


def resolve(verdict: JudgeVerdict, walk: CandidateWalk) -> Resolution:
    """The next :class:`JudgeRequest` for the text, or its final :class:`LabelResult`."""
    request = verdict.request
    attempts = [*request.attempts, verdict.attempt]
    labels = [c.label for c in request.candidates]
    step = walk.step(labels, [a.valid for a in attempts])
    if step.outcome is Outcome.ASK and step.index < len(labels):
        return Resolution(replace(request, index=step.index, attempts=attempts))
    info = JudgeInfo(
        judge=verdict.judge, calls=len(attempts), attempts=attempts, cost=sum(a.cost for a in attempts)
    )
    if step.outcome.labelled and step.label is not None:
        result = _result(request, info, step.label, step.outcome.value, request.candidates[step.index].p)
        learn = None
        if request.embedding:
            source: Literal["validated", "corrected"] = (
                "validated" if step.outcome is Outcome.VALIDATED else "corrected"
            )
            learn = LearnedExample(decode_embedding(request.embedding), request.text, step.label, source)
        return Resolution(result, learn)
    if step.outcome is Outcome.JUDGE_FAILED:
        reason = f"the judge could not answer about {labels[step.index]!r}: {attempts[step.index].reason}"
        return Resolution(_result(request, info, None, "judge_unavailable", request.candidates[0].p, reason))
    reason = f"judge rejected all {len(attempts)} candidate(s)"
    return Resolution(_result(request, info, None, "unresolved", request.candidates[0].p, reason))


def _result(
    request: JudgeRequest,
    info: JudgeInfo,
    label: str | None,
    status: str,
    confidence: float,
    reason: str = "",
) -> LabelResult:
    return LabelResult(
        id=request.id,
        text=request.text,
        label=label,
        status=status,  # type: ignore[arg-type]
        confidence=confidence,
        candidates=request.candidates,
        model_version=request.model_version,
        judge=info,
        reason=reason[:500],
        metadata=request.metadata,
    )
