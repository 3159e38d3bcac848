"""The judge step: ask the judge about the requested candidate and record the answer.

A judge that raises (after its own retries) gives an attempt with ``valid=None`` and the error as its
reason: a failure, never a "no" (the resolve step ends the text as ``judge_unavailable``).
"""

from __future__ import annotations

import logging
import time

from redline.core.judge_interface import Judge, JudgeContext, Verdict
from redline.schemas import JudgeAttempt, JudgeRequest, JudgeVerdict

log = logging.getLogger(__name__)


async def ask(request: JudgeRequest, judge: Judge | None, judge_name: str) -> JudgeVerdict:
    """Ask ``judge`` whether ``request.text`` is an example of the requested candidate."""
    context = request.contexts[request.index]
    started = time.perf_counter()
    if judge is None:
        verdict = Verdict(valid=None, reason="no judge configured")
    else:
        try:
            verdict = await judge.judge(
                request.text,
                request.label,
                JudgeContext(description=context.description, examples=tuple(context.examples)),
            )
        except Exception as exc:
            log.warning("judge failed on %s / %s: %r", request.id, request.label, exc)
            verdict = Verdict(valid=None, reason=f"judge failed: {exc!r}"[:500])
    latency = verdict.latency_ms or (time.perf_counter() - started) * 1000.0
    attempt = JudgeAttempt(
        label=request.label,
        valid=verdict.valid,
        p_yes=None if verdict.p_yes is None else float(min(1.0, max(0.0, verdict.p_yes))),
        reason=verdict.reason[:500],
        cached=verdict.cached,
        latency_ms=float(latency),
        cost=float(verdict.cost),
    )
    return JudgeVerdict(request=request, attempt=attempt, judge=judge_name)
