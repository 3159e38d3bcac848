"""The LLM judge's configuration: one frozen object built at start-up from env and CLI."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from redline.errors import ConfigError
from redline.judge.prompt import ANSWER_FORMATS, HARDENING_MODES
from redline.judge.resilience import RetryPolicy

#: the API key sent when none is configured (local servers ignore it; a real service answers 401)
PLACEHOLDER_API_KEY = "sk-no-key-configured"


@dataclass(frozen=True)
class JudgeSettings:
    """How to reach and use an OpenAI-compatible judge endpoint.

    Parameters
    ----------
    model : str
        Model name sent to the endpoint (``REDLINE_JUDGE_MODEL``).
    base_url : str or None
        Endpoint, e.g. ``http://127.0.0.1:8080/v1`` (``OPENAI_BASE_URL``; None: api.openai.com).
    api_key : str
        Bearer key (``OPENAI_API_KEY``; a placeholder when unset, fine for local servers).
    temperature : float
        Sampling temperature (0: deterministic).
    max_tokens : int
        Completion tokens per answer (a yes/no needs few; JSON answers get at least 16).
    timeout_s : float
        Per-call timeout; a call that takes longer is abandoned and retried.
    max_retries, backoff_base_s, backoff_max_s, jitter, max_retry_after_s
        Retry policy for 429, 5xx, timeouts and connection errors (see :class:`RetryPolicy`).
    concurrency : int
        Most calls in flight at once.
    price_in_per_1k, price_out_per_1k : float
        Price per 1,000 prompt / completion tokens, for the cost counters.
    use_logprobs : bool
        Ask for log-probabilities and score P(yes) (dropped automatically if the server refuses).
    top_logprobs : int
        Alternatives per token to request.
    response_format : {"text", "json"}
        ``json`` asks for ``{"answer": ...}`` with ``response_format=json_object`` where supported
        (falls back to text when the server refuses it).
    threshold : float
        P(yes) at or above which the verdict is yes (fit it with ``redline judge-calibrate``).
    hardening : {"mask", "flag", "none"}
        Prompt-injection hardening (see :mod:`redline.judge.prompt`).
    max_examples : int
        Nearest training examples of the label shown in the prompt (``c``; 3 keeps the judge
        within 5 % of an all-labels LLM's tokens, benchmarks/judge_prompt_tokens.py).
    breaker_threshold : int
        Consecutive failures that open the circuit breaker (0: no breaker).
    breaker_probe_interval_s : float
        While the breaker is open, seconds between probes.
    max_outage_s : float or None
        How long a request waits for an open breaker before failing (None: wait for ever, nothing
        is dropped).
    cache : bool
        Keep verdicts so no question is paid twice.
    cache_path : str or None
        sqlite file for the verdict cache (None: memory only).
    seed : int
        Seed of the retry jitter.
    """

    model: str
    base_url: str | None = None
    api_key: str = PLACEHOLDER_API_KEY
    temperature: float = 0.0
    max_tokens: int = 8
    timeout_s: float = 30.0
    max_retries: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 20.0
    jitter: float = 0.5
    max_retry_after_s: float = 60.0
    concurrency: int = 4
    price_in_per_1k: float = 0.0
    price_out_per_1k: float = 0.0
    use_logprobs: bool = True
    top_logprobs: int = 10
    response_format: str = "text"
    threshold: float = 0.5
    hardening: str = "mask"
    max_examples: int = 3
    breaker_threshold: int = 5
    breaker_probe_interval_s: float = 5.0
    max_outage_s: float | None = None
    cache: bool = True
    cache_path: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if not self.model or not self.model.strip():
            problems.append("no judge model: set REDLINE_JUDGE_MODEL or pass --model")
        for name in ("timeout_s", "breaker_probe_interval_s"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                problems.append(f"{name} must be > 0, got {value}")
        for name in ("temperature", "price_in_per_1k", "price_out_per_1k", "backoff_base_s", "backoff_max_s"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        for name, low in (
            ("max_tokens", 1),
            ("concurrency", 1),
            ("max_retries", 0),
            ("max_examples", 0),
            ("breaker_threshold", 0),
            ("top_logprobs", 0),
        ):
            if getattr(self, name) < low:
                problems.append(f"{name} must be >= {low}, got {getattr(self, name)}")
        if not 0.0 <= self.threshold <= 1.0:
            problems.append(f"threshold must be in [0, 1], got {self.threshold}")
        if not 0.0 <= self.jitter <= 1.0:
            problems.append(f"jitter must be in [0, 1], got {self.jitter}")
        if self.response_format not in ANSWER_FORMATS:
            problems.append(f"response_format must be one of {ANSWER_FORMATS}, got {self.response_format!r}")
        if self.hardening not in HARDENING_MODES:
            problems.append(f"hardening must be one of {HARDENING_MODES}, got {self.hardening!r}")
        if self.max_outage_s is not None and self.max_outage_s < 0:
            problems.append(f"max_outage_s must be >= 0, got {self.max_outage_s}")
        if problems:
            raise ConfigError("judge settings: " + "; ".join(problems))

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy these settings describe."""
        return RetryPolicy(
            max_retries=self.max_retries,
            base_delay_s=self.backoff_base_s,
            max_delay_s=self.backoff_max_s,
            jitter=self.jitter,
            max_retry_after_s=self.max_retry_after_s,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> JudgeSettings:
        """Build settings from ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``REDLINE_JUDGE_MODEL``.

        Also read: ``REDLINE_JUDGE_TIMEOUT_S``, ``REDLINE_JUDGE_MAX_RETRIES``,
        ``REDLINE_JUDGE_CONCURRENCY``, ``REDLINE_JUDGE_THRESHOLD``, ``REDLINE_JUDGE_PRICE_IN``,
        ``REDLINE_JUDGE_PRICE_OUT`` (per 1k tokens), ``REDLINE_JUDGE_CACHE`` (sqlite path).
        Keyword ``overrides`` that are not None win over the environment.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if env.get("OPENAI_BASE_URL"):
            values["base_url"] = env["OPENAI_BASE_URL"]
        if env.get("OPENAI_API_KEY"):
            values["api_key"] = env["OPENAI_API_KEY"]
        values["model"] = env.get("REDLINE_JUDGE_MODEL", "")
        numeric = {
            "REDLINE_JUDGE_TIMEOUT_S": ("timeout_s", float),
            "REDLINE_JUDGE_MAX_RETRIES": ("max_retries", int),
            "REDLINE_JUDGE_CONCURRENCY": ("concurrency", int),
            "REDLINE_JUDGE_THRESHOLD": ("threshold", float),
            "REDLINE_JUDGE_PRICE_IN": ("price_in_per_1k", float),
            "REDLINE_JUDGE_PRICE_OUT": ("price_out_per_1k", float),
        }
        for var, (name, kind) in numeric.items():
            raw = env.get(var)
            if raw:
                try:
                    values[name] = kind(raw)
                except ValueError:
                    raise ConfigError(f"{var}={raw!r} is not a valid {kind.__name__}") from None
        if env.get("REDLINE_JUDGE_CACHE"):
            values["cache_path"] = env["REDLINE_JUDGE_CACHE"]
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown judge settings: {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes: Any) -> JudgeSettings:
        """A copy with some fields changed."""
        return replace(self, **changes)
