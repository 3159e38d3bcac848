"""The judge interface: one yes/no question, one verdict.

A judge answers "is ``text`` an example of ``label``?" given the label's description and a few
training examples of that label nearest to the text. Implementations live at the edges
(``redline.judge.openai_judge.OpenAIJudge`` for a real LLM endpoint) or, for evaluation only,
in :mod:`redline.judge.simulated_expert`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class JudgeContext:
    """What the judge sees about a label besides its name.

    Parameters
    ----------
    description : str
        A short description of the label ("" when none is known).
    examples : sequence of str
        Training examples of the label nearest to the text, most similar first.
    """

    description: str = ""
    examples: Sequence[str] = ()


@dataclass(frozen=True)
class Verdict:
    """A judge's answer to one question.

    Parameters
    ----------
    valid : bool or None
        True for yes, False for no, None when the answer could not be read (see ``reason``).
    p_yes : float or None
        Probability of yes when the judge offers one (logprobs, simulated confidence).
    reason : str
        Why ``valid`` is what it is: the parse path, or the failure for ``valid=None``.
    cost : float
        Money spent on this verdict in the configured currency (0 for cached or simulated answers).
    tokens_in, tokens_out : int
        Tokens billed for the prompt and the completion.
    latency_ms : float
        Wall time of the call that produced the verdict.
    cached : bool
        True when the verdict came from the verdict cache without a call.
    """

    valid: bool | None
    p_yes: float | None = None
    reason: str = ""
    cost: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0
    cached: bool = False
    extra: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class Judge(Protocol):
    """A one-method interface: answer one binary question asynchronously."""

    async def judge(self, text: str, label: str, context: JudgeContext) -> Verdict:
        """Return whether ``text`` is an example of ``label``."""
        ...


@runtime_checkable
class BlockingJudge(Protocol):
    """A judge that answers synchronously: what the offline loop (``redline evaluate``) calls.

    The simulated expert is one; an async :class:`Judge` is wrapped at the edges, never in the core
    (which runs no event loop).
    """

    def judge_sync(self, text: str, label: str, context: JudgeContext) -> Verdict:
        """Return whether ``text`` is an example of ``label``."""
        ...
