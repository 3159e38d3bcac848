"""The resolve step: fold a verdict into the text's route; emit the final label or the next question.

On "yes" the text is labelled (validated: the model's top label; corrected: a lower candidate); on
"no" the next candidate is asked; when every candidate was rejected (or the judge could not answer)
the text ends unresolved. The decision is :meth:`redline.core.uncertainty.RoutingPolicy.resolve`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from redline.core.uncertainty import Action, Route, RoutingPolicy
from redline.errors import RecordError
from redline.schemas import JudgeInfo, JudgeRequest, JudgeVerdict, LabelResult, decode, encode
from redline.streams.agents.dead_letters import Outgoing, dead_letter


def _unresolved_reason(verdict: JudgeVerdict, n_candidates: int) -> str:
    attempts = [*verdict.request.attempts, verdict.attempt]
    failed = [a for a in attempts if a.valid is None]
    if not failed:
        return f"judge rejected all {n_candidates} candidate(s)"
    rejected = len(attempts) - len(failed)
    return f"judge rejected {rejected} and could not answer {len(failed)}: {failed[-1].reason}"


def resolve(verdict: JudgeVerdict) -> LabelResult | JudgeRequest:
    """The final :class:`LabelResult` for the text, or the :class:`JudgeRequest` to ask next."""
    request = verdict.request
    attempts = [*request.attempts, verdict.attempt]
    labels = tuple(c.label for c in request.candidates)
    route = Route(Action.ASK, None, labels, request.uncertainty)
    decided = RoutingPolicy.resolve(route, [a.valid for a in attempts])
    if decided.action is Action.ASK and len(attempts) < len(labels):
        return replace(request, index=len(attempts), attempts=attempts)
    info = JudgeInfo(
        judge=verdict.judge, calls=len(attempts), attempts=attempts, cost=sum(a.cost for a in attempts)
    )
    if decided.action is Action.ACCEPT and decided.label is not None:
        position = labels.index(decided.label)
        return LabelResult(
            id=request.id,
            text=request.text,
            label=decided.label,
            status="validated" if position == 0 else "corrected",
            confidence=request.candidates[position].p,
            candidates=request.candidates,
            model_version=request.model_version,
            judge=info,
            metadata=request.metadata,
        )
    return LabelResult(
        id=request.id,
        text=request.text,
        label=None,
        status="unresolved",
        confidence=request.candidates[0].p,
        candidates=request.candidates,
        model_version=request.model_version,
        judge=info,
        reason=_unresolved_reason(verdict, len(labels)),
        metadata=request.metadata,
    )


def resolve_message(message: Any) -> list[Outgoing]:
    """The whole step for one raw ``redline.judge.verdicts`` message."""
    try:
        verdict = decode(JudgeVerdict, message.value)
    except RecordError as exc:
        letter = dead_letter(message, str(exc), stage="resolve")
        return [Outgoing("deadletter", message.key, encode(letter))]
    nxt = resolve(verdict)
    key = verdict.request.id.encode("utf-8")
    if isinstance(nxt, JudgeRequest):
        return [Outgoing("judge_requests", key, encode(nxt))]
    return [Outgoing("labels", key, encode(nxt))]
