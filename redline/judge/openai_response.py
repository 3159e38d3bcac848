"""Reading a chat completion defensively: content, per-token top log-probabilities, usage.

Servers differ: OpenAI and vLLM send ``logprobs.content[i].top_logprobs``; some llama.cpp builds
send the legacy completion shape (``logprobs.top_logprobs[i] = {token: logprob}``). Anything
missing or malformed becomes ``None`` / 0 here, never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: per generated token, its top alternatives as (token, log-probability)
TokenLogprobs = list[list[tuple[str, float]]]


@dataclass(frozen=True)
class Completion:
    """What one answered call gave.

    Parameters
    ----------
    content : str or None
        The message content.
    logprobs : list of list of (str, float), or None
        Top alternatives per generated token, when the endpoint sent them.
    tokens_in, tokens_out : int
        Usage as the endpoint reported it (0 when missing).
    latency_ms : float
        Wall time of the call.
    """

    content: str | None
    logprobs: TokenLogprobs | None
    tokens_in: int
    tokens_out: int
    latency_ms: float = 0.0


def _as_dict(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        try:
            return obj.model_dump()
        except Exception:
            return None
    return obj


def _positions(logprobs: Any) -> TokenLogprobs | None:
    data = _as_dict(logprobs)
    if not isinstance(data, Mapping):
        return None
    out: TokenLogprobs = []
    content = data.get("content")
    if isinstance(content, list):
        for item in content:
            if not isinstance(item, Mapping):
                continue
            top = [
                (str(alt.get("token", "")), float(alt["logprob"]))
                for alt in item.get("top_logprobs") or []
                if isinstance(alt, Mapping) and isinstance(alt.get("logprob"), (int, float))
            ]
            if not top and isinstance(item.get("logprob"), (int, float)):
                top = [(str(item.get("token", "")), float(item["logprob"]))]
            out.append(top)
        return out or None
    legacy = data.get("top_logprobs")
    if isinstance(legacy, list):
        for entry in legacy:
            if isinstance(entry, Mapping):
                out.append([(str(t), float(lp)) for t, lp in entry.items() if isinstance(lp, (int, float))])
        return out or None
    return None


def extract_completion(response: Any) -> tuple[str | None, TokenLogprobs | None, int, int]:
    """``(content, logprobs per token, prompt tokens, completion tokens)`` of a chat completion."""
    content: str | None = None
    logprobs = None
    try:
        choice = response.choices[0]
        message = choice.message
        content = message.content if isinstance(message.content, str) else None
        logprobs = _positions(getattr(choice, "logprobs", None))
    except (AttributeError, IndexError, TypeError, KeyError):
        pass
    return content, logprobs, _count(response, "prompt_tokens"), _count(response, "completion_tokens")


def _count(response: Any, name: str) -> int:
    try:
        value = getattr(getattr(response, "usage", None), name, 0)
        return max(int(value or 0), 0)
    except (TypeError, ValueError, OverflowError):
        return 0
