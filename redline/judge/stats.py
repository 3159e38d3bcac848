"""Counters of what a judge did, what failed and what it cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: kinds of failed calls (a fixed set, so metrics keep the same labels)
ERROR_KINDS: tuple[str, ...] = (
    "timeout",  # no answer within timeout_s
    "connection",  # refused or broken connection
    "http_429",  # rate limited
    "http_5xx",  # server error
    "http_4xx",  # 400, 408, 409, 422, ...: the request was refused
    "rejected",  # 401, 403, 404: credentials or model refused
    "malformed",  # a 200 whose body is not a chat completion
)
#: why a request ended in a JudgeError
GAVE_UP_REASONS: tuple[str, ...] = ("retries_exhausted", "outage", "rejected")


@dataclass
class JudgeStats:
    """Running totals of one judge (:meth:`snapshot` is what ``OpenAIJudge.stats()`` returns).

    Attributes
    ----------
    requests : int
        ``judge()`` calls, cached or not.
    calls : int
        HTTP attempts made (retries and probes included).
    cache_hits : int
        Questions answered from the verdict cache or by sharing an identical call in flight.
    answered : int
        Calls that returned a completion.
    retries : int
        Retries slept on.
    errors : dict of str to int
        Failed attempts by kind (:data:`ERROR_KINDS`).
    gave_up : dict of str to int
        Requests that ended in a JudgeError, by reason (:data:`GAVE_UP_REASONS`).
    invalid : int
        Verdicts with ``valid=None``.
    format_fallbacks : int
        Optional features dropped because the endpoint refused them (json format, logprobs).
    injections_flagged : int
        Questions whose text held instruction-like content (masked or flagged in the prompt).
    context_injections_flagged : int
        Questions whose label description or examples held instruction-like content.
    tokens_in, tokens_out : int
        Tokens billed, as the endpoint reported them.
    cost : float
        ``tokens_in/1000 * price_in_per_1k + tokens_out/1000 * price_out_per_1k``.
    latency_ms_total, latency_ms_max : float
        Summed and largest latency of the answered calls.
    """

    requests: int = 0
    calls: int = 0
    cache_hits: int = 0
    answered: int = 0
    retries: int = 0
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_KINDS, 0))
    gave_up: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GAVE_UP_REASONS, 0))
    invalid: int = 0
    format_fallbacks: int = 0
    injections_flagged: int = 0
    context_injections_flagged: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    latency_ms_total: float = 0.0
    latency_ms_max: float = 0.0

    def record_error(self, kind: str) -> None:
        """Count one failed attempt of ``kind``."""
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def record_gave_up(self, reason: str) -> None:
        """Count one request that ended in a JudgeError."""
        self.gave_up[reason] = self.gave_up.get(reason, 0) + 1

    def record_answer(
        self,
        tokens_in: int,
        tokens_out: int,
        latency_ms: float,
        price_in_per_1k: float,
        price_out_per_1k: float,
    ) -> float:
        """Count one answered call; return its cost."""
        cost = tokens_in / 1000.0 * price_in_per_1k + tokens_out / 1000.0 * price_out_per_1k
        self.answered += 1
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        self.cost += cost
        self.latency_ms_total += latency_ms
        self.latency_ms_max = max(self.latency_ms_max, latency_ms)
        return cost

    @property
    def failures(self) -> int:
        """Failed attempts of any kind."""
        return sum(self.errors.values())

    @property
    def mean_latency_ms(self) -> float:
        """Mean latency of answered calls (0 before the first)."""
        return self.latency_ms_total / self.answered if self.answered else 0.0

    def snapshot(self) -> dict[str, Any]:
        """Every counter (dicts copied) plus ``failures`` and ``mean_latency_ms``, JSON-ready."""
        return {
            "requests": self.requests,
            "calls": self.calls,
            "cache_hits": self.cache_hits,
            "answered": self.answered,
            "retries": self.retries,
            "failures": self.failures,
            "errors": dict(self.errors),
            "gave_up": dict(self.gave_up),
            "invalid": self.invalid,
            "format_fallbacks": self.format_fallbacks,
            "injections_flagged": self.injections_flagged,
            "context_injections_flagged": self.context_injections_flagged,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost": self.cost,
            "latency_ms_total": self.latency_ms_total,
            "latency_ms_max": self.latency_ms_max,
            "mean_latency_ms": self.mean_latency_ms,
        }
