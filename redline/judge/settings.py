"""The LLM judge's configuration: one frozen object built at start-up from env and CLI.

Every knob has exactly one environment variable, ``REDLINE_JUDGE_<NAME>`` unless listed otherwise
(``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``REDLINE_JUDGE_PRICE_IN``, ``REDLINE_JUDGE_PRICE_OUT``,
``REDLINE_JUDGE_CACHE``), and one option of ``redline judge`` / ``describe`` / ``judge-calibrate``
(:func:`judge_knobs`), except the API key, which is read from the environment only (a key on a
command line shows in ``ps`` and in shell histories).

``JudgeSettings(...)`` validates exactly what it is given; :meth:`JudgeSettings.from_env` layers
defaults < environment < explicit overrides. Invalid values raise a one-line
:class:`~redline.errors.ConfigError` that names the setting and its variable and never shows the key.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from redline.errors import ConfigError
from redline.judge.prompt import AnswerFormat, Hardening
from redline.judge.retry_policy import RetryPolicy

ENV_PREFIX = "REDLINE_JUDGE_"
#: the API key sent when none is configured (local servers ignore it; a real service answers 401)
PLACEHOLDER_API_KEY = "sk-no-key-configured"

#: the error type of this module's own validators (their messages say everything)
_OWN_ERROR = "judge_setting"

Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0, le=1)]


def _knob(default: Any, help: str, *, flag: str | None = None, env: str | None = None, **limits: Any) -> Any:
    """A field with its help text, its option name (default ``--<name>``) and its variable."""
    return Field(default, description=help, validation_alias=env, json_schema_extra={"flag": flag}, **limits)


class JudgeSettings(BaseSettings):
    """How to reach and use an OpenAI-compatible judge endpoint (frozen; see the module docstring).

    Each field's description says what it does; :func:`judge_knobs` lists option and variable names.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, extra="forbid", validate_by_name=True
    )

    model: str = _knob("", "model name sent to the endpoint")
    base_url: str | None = _knob(
        None, "OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1 (unset: api.openai.com)",
        env="OPENAI_BASE_URL",
    )  # fmt: skip
    api_key: SecretStr = _knob(
        SecretStr(PLACEHOLDER_API_KEY), "bearer key (a placeholder when unset)", flag="", env="OPENAI_API_KEY"
    )
    temperature: NonNegative = _knob(0.0, "sampling temperature")
    max_tokens: int = _knob(
        8, "completion tokens per answer (JSON gets >= 16)", flag="--answer-max-tokens", ge=1
    )
    timeout_s: Seconds = _knob(30.0, "seconds per call before it is abandoned and retried", flag="--timeout")
    max_retries: int = _knob(4, "retries on 429, 5xx, timeouts and connection errors", ge=0)
    backoff_base_s: NonNegative = _knob(
        0.5, "first backoff delay, doubled per retry", flag="--retry-base-delay"
    )
    backoff_max_s: NonNegative = _knob(20.0, "ceiling of the backoff delay", flag="--retry-max-delay")
    jitter: Share = _knob(0.5, "share of a backoff delay drawn at random", flag="--retry-jitter")
    max_retry_after_s: NonNegative = _knob(
        60.0, "ceiling on a server's Retry-After", flag="--max-retry-after"
    )
    max_in_flight: int = _knob(4, "judge calls in flight at once", ge=1)
    price_in_per_1k: NonNegative = _knob(
        0.0, "price per 1,000 prompt tokens", flag="--price-in", env="REDLINE_JUDGE_PRICE_IN"
    )
    price_out_per_1k: NonNegative = _knob(
        0.0, "price per 1,000 completion tokens", flag="--price-out", env="REDLINE_JUDGE_PRICE_OUT"
    )
    use_logprobs: bool = _knob(True, "ask for log-probabilities and score P(yes)", flag="--logprobs")
    top_logprobs: int = _knob(10, "alternatives per token to request", ge=0)
    response_format: AnswerFormat = _knob("text", 'answer format: text, or json ({"answer": ...})')
    threshold: Share = _knob(0.5, "P(yes) at or above which the answer is yes (fit: judge-calibrate)")
    hardening: Hardening = _knob("mask", "prompt-injection hardening")
    max_examples: int = _knob(3, "nearest training examples shown (c)", flag="--examples-shown", ge=0)
    breaker_threshold: int = _knob(5, "consecutive failures that open the circuit breaker (0: none)", ge=0)
    breaker_probe_interval_s: Seconds = _knob(
        5.0, "seconds between probes while the breaker is open", flag="--breaker-probe-interval"
    )
    max_outage_s: Seconds = _knob(120.0, "seconds a request waits for a down endpoint before failing",
                                  flag="--max-outage")  # fmt: skip
    reachability_timeout_s: Seconds = _knob(
        5.0, "seconds the reachability check after a timeout may take", flag="--reachability-timeout"
    )
    cache_enabled: bool = _knob(True, "keep verdicts so no question is paid twice", flag="--verdict-cache")
    cache_path: str | None = _knob(
        None,
        "sqlite file for the verdict cache (unset: memory only)",
        flag="--cache",
        env="REDLINE_JUDGE_CACHE",
    )
    cache_max_entries: int = _knob(100_000, "verdicts kept in memory (least recently used go)", ge=0)
    jitter_seed: int = _knob(0, "seed of the retry jitter")

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError("judge settings: " + _describe(exc)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the given values: the environment is read by :meth:`from_env`, explicitly."""
        return (init_settings,)

    @field_validator("model")
    @classmethod
    def _model_named(cls, value: str) -> str:
        if not value.strip():
            raise PydanticCustomError(_OWN_ERROR, "no judge model: set REDLINE_JUDGE_MODEL or pass --model")
        return value.strip()

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise PydanticCustomError(
                _OWN_ERROR,
                "OPENAI_BASE_URL / --base-url must start with http:// or https://, got {value}",
                {"value": repr(value[:80])},
            )
        return value

    @classmethod
    def from_env(cls, *, defaults: Mapping[str, Any] | None = None, **overrides: Any) -> JudgeSettings:
        """Settings from ``defaults`` < the environment < ``overrides`` (``None`` overrides are skipped).

        ``defaults`` are a caller's own defaults (e.g. a command's), which the environment may change.
        """
        unknown = (set(overrides) | set(defaults or {})) - set(cls.model_fields)
        if unknown:
            raise ConfigError(f"judge settings: unknown setting {', '.join(sorted(unknown))}")
        by_variable = {knob.env: knob.name for knob in judge_knobs()}
        environment = {by_variable.get(key, key): value for key, value in EnvSettingsSource(cls)().items()}
        given = {name: value for name, value in overrides.items() if value is not None}
        return cls(**{**(defaults or {}), **environment, **given})

    def with_(self, **changes: Any) -> JudgeSettings:
        """A validated copy with some fields changed."""
        return type(self)(**{**{name: getattr(self, name) for name in type(self).model_fields}, **changes})

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


@dataclass(frozen=True)
class Knob:
    """One setting as the command line and the environment see it.

    Attributes
    ----------
    name : str
        The field of :class:`JudgeSettings`.
    flag : str
        The option (``--timeout``); "" for a setting read from the environment only.
    env : str
        Its environment variable.
    kind : type
        ``str``, ``int``, ``float`` or ``bool`` (bool options come with a ``--no-`` form).
    choices : tuple of str
        The allowed values of a choice (empty otherwise).
    default : object
    help : str
    """

    name: str
    flag: str
    env: str
    kind: type
    choices: tuple[str, ...]
    default: Any
    help: str


def judge_knobs() -> list[Knob]:
    """Every setting of :class:`JudgeSettings` with its option and variable, in field order."""
    knobs = []
    for name, info in JudgeSettings.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        flag = extra.get("flag")
        env = info.validation_alias if isinstance(info.validation_alias, str) else ENV_PREFIX + name.upper()
        choices = (
            tuple(str(c) for c in typing.get_args(info.annotation)) if _is_literal(info.annotation) else ()
        )
        kind: type = str if choices else _scalar(info.annotation)
        knobs.append(
            Knob(
                name=name,
                flag="--" + name.replace("_", "-") if flag is None else str(flag),
                env=env,
                kind=kind,
                choices=choices,
                default=info.default,
                help=info.description or "",
            )
        )
    return knobs


def _is_literal(annotation: Any) -> bool:
    return typing.get_origin(annotation) is typing.Literal


def _scalar(annotation: Any) -> type:
    if annotation in (bool, int, float, str):
        return annotation  # type: ignore[no-any-return]
    return str  # str | None, SecretStr


def _describe(exc: ValidationError) -> str:
    """One line per problem, joined by "; ": the setting, its variable and the value (never the key's)."""
    knobs = {knob.name: knob for knob in judge_knobs()}
    by_variable = {knob.env: knob for knob in knobs.values()}
    problems = []
    for error in exc.errors(include_url=False):
        where = str(error["loc"][0]) if error["loc"] else ""
        knob = knobs.get(where) or by_variable.get(where)
        message = str(error["msg"])
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown setting {where}")
        elif error["type"] == _OWN_ERROR or knob is None:
            problems.append(message)
        elif knob.name == "api_key":
            problems.append(f"api_key ({knob.env}): {message}")
        else:
            shown = repr(error["input"])[:80]
            problems.append(f"{knob.name} ({knob.env}) = {shown}: {message}")
    return "; ".join(problems)
