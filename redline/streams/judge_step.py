"""The judge step: ask the judge about the requested candidate and record the answer; walk on.

A judge that raises (after its own retries) gives an attempt with ``valid=None`` and the error as its
reason: a failure, never a "no" (the resolve step ends the text as ``judge_unavailable``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from redline.core.candidate_walk import CandidateWalk
from redline.core.judge_interface import Judge, JudgeContext, Verdict
from redline.errors import ConfigError
from redline.schemas import JudgeAttempt, JudgeRequest, JudgeVerdict
from redline.streams.resolve_step import Resolution, resolve

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


async def walk_on(
    request: JudgeRequest,
    judge: Judge | None,
    judge_name: str,
    walk: Callable[[], CandidateWalk],
    questions: int,
    slots: asyncio.Semaphore,
    answered: Callable[[int, str, bool | None, float], None],
) -> tuple[JudgeVerdict, Resolution]:
    """Ask about ``request``'s candidate and, while the walk goes on to the next, about that one, up to
    ``questions`` questions in a row; the last verdict and what follows it (the next request or the
    result). Each question takes one of ``slots``; ``answered(index, label, valid, latency_ms)`` sees
    every answer; ``walk`` gives the engine's walk at each step (a new model may come between two).

    A "no" asks the next candidate here instead of through ``redline.judge.requests`` (a produce, a
    fetch, a decode and a hop's wait per question), and no verdict record is written (one repeated its
    3.7 KB request: bench_stream, judge share 0.2, learning off, 150 labels, six interleaved pairs, ratio
    to the embedder 0.30-0.36 against 0.26-0.31 with it). A crash before the outputs are delivered
    leaves the request unacknowledged: it is read again and the walk asked again from it.
    """
    if questions < 1:
        raise ConfigError(f"questions must be at least 1, got {questions}")
    asked = 0
    while True:
        async with slots:
            verdict = await ask(request, judge, judge_name)
        asked += 1
        attempt = verdict.attempt
        answered(request.index, request.label, attempt.valid, attempt.latency_ms)
        resolution = resolve(verdict, walk())
        if not isinstance(resolution.next, JudgeRequest) or asked == questions:
            return verdict, resolution
        request = resolution.next
