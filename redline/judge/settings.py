"""The LLM judge's configuration: one frozen object built at start-up from env and CLI.

:class:`JudgeSettings` is a :class:`~redline.settings_base.RedlineSettings`: the constructor takes
keyword arguments and defaults only; :meth:`JudgeSettings.from_env` reads the variables. Every knob
has exactly one variable, ``REDLINE_JUDGE_<NAME>`` unless :attr:`JudgeSettings.env_var_names` keeps
an older or standard name (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``REDLINE_JUDGE_PRICE_IN``,
``REDLINE_JUDGE_PRICE_OUT``, ``REDLINE_JUDGE_CACHE``), and one option of ``redline judge``,
``describe`` and ``judge-calibrate`` (:mod:`redline.commands.judge_options`), except the API key:
a key on a command line shows in the process list. Invalid values are one
:class:`~redline.errors.ConfigError` line naming the variable or option; the key is never shown.

(``REDLINE_JUDGE_CONCURRENCY`` is the stream worker's number of judge agents, not a knob of this
object: the calls one judge has in flight are ``REDLINE_JUDGE_MAX_IN_FLIGHT``.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Self

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from redline.judge.prompt import AnswerFormat, Hardening
from redline.judge.retry_policy import RetryPolicy
from redline.settings_base import RedlineSettings, setting_problem

#: the API key sent when none is configured (local servers ignore it; a real service answers 401)
PLACEHOLDER_API_KEY = "sk-no-key-configured"


class JudgeSettings(RedlineSettings):
    """How to reach and use an OpenAI-compatible judge endpoint (see the module docstring).

    Each field's description says what it does; :meth:`field_env_vars` names its variable.
    """

    model_config = SettingsConfigDict(env_prefix="REDLINE_JUDGE_")
    env_var_names: ClassVar[Mapping[str, str]] = MappingProxyType(
        {
            "base_url": "OPENAI_BASE_URL",
            "api_key": "OPENAI_API_KEY",
            "price_in_per_1k": "REDLINE_JUDGE_PRICE_IN",
            "price_out_per_1k": "REDLINE_JUDGE_PRICE_OUT",
            "cache_path": "REDLINE_JUDGE_CACHE",
        }
    )

    model: str = Field(default="", description="model name sent to the endpoint")
    base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1 (unset: OpenAI)"
    )
    api_key: SecretStr = Field(
        default=SecretStr(PLACEHOLDER_API_KEY), description="bearer key (a placeholder when unset)"
    )
    temperature: float = Field(default=0.0, ge=0, description="sampling temperature")
    max_tokens: int = Field(default=8, ge=1, description="completion tokens per answer (JSON: at least 16)")
    timeout_s: float = Field(default=30.0, gt=0, description="seconds per call before it is retried")
    max_retries: int = Field(default=4, ge=0, description="retries on 429, 5xx, timeouts, connection errors")
    backoff_base_s: float = Field(default=0.5, ge=0, description="first backoff delay, doubled per retry")
    backoff_max_s: float = Field(default=20.0, ge=0, description="ceiling of the backoff delay")
    jitter: float = Field(default=0.5, ge=0, le=1, description="share of a backoff delay drawn at random")
    max_retry_after_s: float = Field(default=60.0, ge=0, description="ceiling on a server's Retry-After")
    max_in_flight: int = Field(default=4, ge=1, description="judge calls in flight at once")
    price_in_per_1k: float = Field(default=0.0, ge=0, description="price per 1,000 prompt tokens")
    price_out_per_1k: float = Field(default=0.0, ge=0, description="price per 1,000 completion tokens")
    use_logprobs: bool = Field(default=True, description="ask for log-probabilities and score P(yes)")
    top_logprobs: int = Field(default=10, ge=0, description="alternatives per token to request")
    response_format: AnswerFormat = Field(default="text", description='answer as text, or json {"answer"}')
    threshold: float = Field(default=0.5, ge=0, le=1, description="P(yes) at or above which it is yes")
    hardening: Hardening = Field(default="mask", description="prompt-injection hardening")
    max_examples: int = Field(default=3, ge=0, description="nearest training examples shown (c)")
    breaker_threshold: int = Field(
        default=5, ge=0, description="consecutive failures that open the circuit breaker (0: none)"
    )
    breaker_probe_interval_s: float = Field(
        default=5.0, gt=0, description="seconds between probes while the breaker is open"
    )
    max_outage_s: float = Field(
        default=120.0, gt=0, description="seconds a request waits for a down endpoint before it fails"
    )
    reachability_timeout_s: float = Field(
        default=5.0, gt=0, description="seconds the reachability check after a timeout may take"
    )
    cache_enabled: bool = Field(default=True, description="keep verdicts so no question is paid twice")
    cache_path: str | None = Field(
        default=None, description="sqlite file for the verdict cache (unset: memory only)"
    )
    cache_max_entries: int = Field(
        default=100_000, ge=0, description="verdicts kept in memory (least recently used go first)"
    )
    jitter_seed: int = Field(default=0, description="seed of the retry jitter")

    @field_validator("model")
    @classmethod
    def _model_named(cls, value: str) -> str:
        if not value.strip():
            raise setting_problem("is required: the name of the judge's model", "model")
        return value.strip()

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise setting_problem("must start with http:// or https://", "base_url")
        return value

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        flags: Mapping[str, str] | None = None,
        defaults: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> Self:
        """:meth:`RedlineSettings.from_env`, plus a caller's own ``defaults`` (a command's) that
        apply where neither the variable nor an override gives a value."""
        env = os.environ if environ is None else environ
        variables = cls.field_env_vars()
        for name, value in (defaults or {}).items():
            if overrides.get(name) is None and not env.get(variables.get(name, ""), ""):
                overrides[name] = value
        return super().from_env(environ, flags=flags, **overrides)

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
