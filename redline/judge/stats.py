"""Counters of what a judge did and what it cost."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class JudgeStats:
    """Running totals of one judge.

    Attributes
    ----------
    requests : int
        ``judge()`` calls, cached or not.
    calls : int
        HTTP attempts made (retries and probes included).
    cache_hits : int
        Questions answered from the verdict cache or by sharing an identical call in flight.
    retries, failures : int
        Retries slept on; attempts that failed (any reason).
    invalid : int
        Verdicts with ``valid=None``.
    format_fallbacks : int
        Optional features dropped because the endpoint refused them (json format, logprobs).
    injections_flagged : int
        Questions whose text held instruction-like content (masked or flagged in the prompt).
    tokens_in, tokens_out : int
        Tokens billed, as the endpoint reported them.
    latency_ms_total : float
        Summed latency of the successful judge calls.
    cost : float
        ``tokens_in/1000 * price_in_per_1k + tokens_out/1000 * price_out_per_1k``.
    """

    requests: int = 0
    calls: int = 0
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0
    invalid: int = 0
    format_fallbacks: int = 0
    injections_flagged: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms_total: float = 0.0
    cost: float = 0.0
    answered: int = 0

    def add_tokens(
        self, tokens_in: int, tokens_out: int, price_in_per_1k: float, price_out_per_1k: float
    ) -> float:
        """Count one answered call's tokens; return its cost."""
        cost = tokens_in / 1000.0 * price_in_per_1k + tokens_out / 1000.0 * price_out_per_1k
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        self.cost += cost
        self.answered += 1
        return cost

    @property
    def mean_latency_ms(self) -> float:
        """Mean latency of answered judge calls (0 before the first)."""
        return self.latency_ms_total / self.answered if self.answered else 0.0

    def as_dict(self) -> dict[str, Any]:
        """All counters plus ``mean_latency_ms``, for JSON output."""
        out = asdict(self)
        out["mean_latency_ms"] = self.mean_latency_ms
        return out
