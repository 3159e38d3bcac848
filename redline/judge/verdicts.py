"""Verdicts from completions: the answer read and decided, and copies of cached verdicts."""

from __future__ import annotations

from redline.core.judge_interface import Verdict
from redline.judge.openai_response import Completion
from redline.judge.prompt import JudgePrompt
from redline.judge.verdict_parsing import ParsedAnswer, decide, read_answer


def answered_verdict(
    completion: Completion,
    prompt: JudgePrompt,
    *,
    threshold: float,
    model: str,
    cost: float,
    attempts: int,
    wall_ms: float,
) -> Verdict:
    """The verdict of one answered call (``valid=None`` when the answer cannot be read).

    ``extra`` carries ``word`` (the plain yes/no), ``prompt_version``, ``model``, ``injection`` and
    ``context_injection`` (the kinds of instruction-like content found in the text, and in the
    label's description and examples), ``attempts``, ``wall_ms`` (retries and waits included) and
    ``answer`` (the first 200 characters of the reply).
    """
    answer = read_answer(completion.content, completion.logprobs)
    valid, reason = decide(answer, threshold)
    return Verdict(
        valid=valid,
        p_yes=answer.p_yes,
        reason=reason,
        cost=cost,
        tokens_in=completion.tokens_in,
        tokens_out=completion.tokens_out,
        latency_ms=completion.latency_ms,
        extra={
            "word": answer.word,
            "prompt_version": prompt.version,
            "model": model,
            "injection": list(prompt.injection.kinds),
            "context_injection": list(prompt.context_injection.kinds),
            "attempts": attempts,
            "wall_ms": wall_ms,
            "answer": (completion.content or "")[:200],
        },
    )


def cached_copy(verdict: Verdict, threshold: float) -> Verdict:
    """A stored verdict served again: decided against today's ``threshold``, nothing paid."""
    word = verdict.extra.get("word")
    answer = ParsedAnswer(word if isinstance(word, bool) else None, verdict.p_yes, verdict.reason)
    valid, reason = decide(answer, threshold) if answer.p_yes is not None else (verdict.valid, verdict.reason)
    return Verdict(
        valid=valid,
        p_yes=verdict.p_yes,
        reason=f"cached; {reason}",
        cost=0.0,
        tokens_in=0,
        tokens_out=0,
        latency_ms=0.0,
        cached=True,
        extra=dict(verdict.extra),
    )
