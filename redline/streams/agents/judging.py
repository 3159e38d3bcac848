"""The judge step: ask the installed judge about one candidate and record its answer."""

from __future__ import annotations

import logging
import time
from typing import Any

from redline.core.judge_interface import JudgeContext, Verdict
from redline.errors import RecordError
from redline.schemas import JudgeAttempt, JudgeRequest, JudgeVerdict, decode, encode
from redline.streams.agents import collaborators as co
from redline.streams.agents.dead_letters import Outgoing, dead_letter

log = logging.getLogger(__name__)


async def ask(request: JudgeRequest) -> JudgeVerdict:
    """Ask ``co.judge`` whether ``request.text`` is an example of the requested candidate.

    A judge that raises (after its own retries) gives a verdict with ``valid=None`` and the error as
    its reason; the resolver then moves on, so the text still ends with exactly one result.
    """
    label = request.label
    context = request.contexts[request.index]
    started = time.perf_counter()
    judge = co.judge
    if judge is None:
        verdict = Verdict(valid=None, reason="no judge configured")
    else:
        try:
            verdict = await judge.judge(
                request.text,
                label,
                JudgeContext(description=context.description, examples=tuple(context.examples)),
            )
        except Exception as exc:
            log.warning("judge failed on %s / %s: %r", request.id, label, exc)
            verdict = Verdict(valid=None, reason=f"judge failed: {exc!r}"[:500])
    latency = verdict.latency_ms or (time.perf_counter() - started) * 1000.0
    attempt = JudgeAttempt(
        label=label,
        valid=verdict.valid,
        p_yes=None if verdict.p_yes is None else float(min(1.0, max(0.0, verdict.p_yes))),
        reason=verdict.reason,
        cached=verdict.cached,
        latency_ms=float(latency),
        cost=float(verdict.cost),
    )
    return JudgeVerdict(request=request, attempt=attempt, judge=co.judge_name)


async def judge_message(message: Any) -> list[Outgoing]:
    """The whole step for one raw ``redline.judge.requests`` message."""
    try:
        request = decode(JudgeRequest, message.value)
    except RecordError as exc:
        letter = dead_letter(message, str(exc), stage="judge")
        return [Outgoing("deadletter", message.key, encode(letter))]
    verdict = await ask(request)
    return [Outgoing("judge_verdicts", request.id.encode("utf-8"), encode(verdict))]
