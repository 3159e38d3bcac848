"""What ``redline judge``, ``describe`` and ``judge-calibrate`` share: the judge's options and settings.

Every field of :class:`~redline.judge.settings.JudgeSettings` but the API key has one option here
(:data:`JUDGE_FLAGS`), on each of the three commands, added like the worker's with
:mod:`redline.commands.settings_flags`: the options take text, the settings parse it as they parse
the variables (a bad value is one line naming the option), and building the parser loads neither
pydantic nor openai. :func:`settings_from_args` layers a command's own defaults < the variables <
the options. :func:`make_judge` and :func:`make_embedder` are the collaborators tests replace.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from redline.commands.settings_flags import add_setting_flags, long_flags, setting_values
from redline.errors import ConfigError, InputDataError
from redline.judge.calibration import JudgeCalibration
from redline.judge.prompt import prompt_version

if TYPE_CHECKING:  # imported where used: pydantic and openai are seconds of every CLI start-up
    from redline.adapters.embedder import Embedder
    from redline.judge.openai_judge import OpenAIJudge
    from redline.judge.settings import JudgeSettings

JUDGE_SETTINGS = "redline.judge.settings:JudgeSettings"
#: the option of every JudgeSettings field but ``api_key`` (read from $OPENAI_API_KEY only)
JUDGE_FLAGS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "model": ("--model",),
        "base_url": ("--base-url",),
        "temperature": ("--temperature",),
        "max_tokens": ("--answer-max-tokens",),
        "timeout_s": ("--timeout",),
        "max_retries": ("--max-retries",),
        "backoff_base_s": ("--retry-base-delay",),
        "backoff_max_s": ("--retry-max-delay",),
        "jitter": ("--retry-jitter",),
        "max_retry_after_s": ("--max-retry-after",),
        "max_in_flight": ("--max-in-flight",),
        "price_in_per_1k": ("--price-in",),
        "price_out_per_1k": ("--price-out",),
        "use_logprobs": ("--logprobs",),
        "top_logprobs": ("--top-logprobs",),
        "response_format": ("--response-format",),
        "threshold": ("--threshold",),
        "hardening": ("--hardening",),
        "max_examples": ("--examples-shown",),
        "breaker_threshold": ("--breaker-threshold",),
        "breaker_probe_interval_s": ("--breaker-probe-interval",),
        "max_outage_s": ("--max-outage",),
        "reachability_timeout_s": ("--reachability-timeout",),
        "cache_enabled": ("--verdict-cache",),
        "cache_path": ("--cache",),
        "cache_max_entries": ("--cache-max-entries",),
        "jitter_seed": ("--jitter-seed",),
    }
)
#: the on/off fields: ``--name`` / ``--no-name``
JUDGE_SWITCHES = frozenset({"use_logprobs", "cache_enabled"})


def make_judge(settings: JudgeSettings) -> OpenAIJudge:
    """The judge the commands use (tests replace this attribute)."""
    # deferred: openai and httpx take about a second to import; the parser never needs them
    from redline.judge.openai_judge import OpenAIJudge

    return OpenAIJudge(settings)


def make_embedder() -> Embedder:
    """The sentence embedder, for the examples nearest to a text (tests replace this attribute)."""
    # deferred: the embedder's settings load pydantic; the parser never needs them
    from redline.adapters.embedder import EmbeddingSettings

    return EmbeddingSettings.from_env().build()


def positive_int(value: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def add_judge_options(parser: argparse.ArgumentParser) -> None:
    """One option per judge setting (each wins over its variable), ``--json-format`` and
    ``--calibration``; render the parser's help with ``SettingsHelpFormatter``."""
    group = parser.add_argument_group(
        "judge endpoint",
        "each option wins over its variable; the API key is read from $OPENAI_API_KEY only "
        "(a key on a command line shows in the process list)",
    )
    add_setting_flags(group, JUDGE_SETTINGS, JUDGE_FLAGS, JUDGE_SWITCHES)
    group.add_argument(
        "--json-format",
        dest="response_format",
        action="store_const",
        const="json",
        help='ask for {"answer": ...} (same as --response-format json)',
    )
    group.add_argument(
        "--calibration",
        type=Path,
        help="calibration.json from `redline judge-calibrate` "
        "(sets the threshold; must match the prompt version)",
    )


def load_calibration(path: Path) -> JudgeCalibration:
    """Read a calibration file written by ``redline judge-calibrate``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputDataError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputDataError(f"{path}: not a calibration file: {exc}") from None
    if not isinstance(data, dict):
        raise InputDataError(f"{path}: not a calibration file: expected a JSON object")
    try:
        return JudgeCalibration.from_dict(data)
    except InputDataError as exc:
        raise InputDataError(f"{path}: {exc}") from None


def settings_from_args(
    args: argparse.Namespace,
    *,
    defaults: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    **fixed: Any,
) -> JudgeSettings:
    """JudgeSettings from ``defaults`` < the variables of ``environ`` (None: ``os.environ``) < the
    options < ``fixed`` (None values skipped), with the threshold of ``--calibration`` unless
    ``--threshold`` is given."""
    # deferred: pydantic (0.2-0.4 s); building the parser never loads it
    from redline.judge.settings import JudgeSettings

    values = {**setting_values(args, JUDGE_FLAGS), **{k: v for k, v in fixed.items() if v is not None}}
    settings = JudgeSettings.from_env(environ, flags=long_flags(JUDGE_FLAGS), defaults=defaults, **values)
    calibration_path = getattr(args, "calibration", None)
    if calibration_path is None:
        return settings
    calibration = load_calibration(calibration_path)
    expected = prompt_version(settings.hardening, settings.response_format)
    if calibration.prompt_version != expected:
        raise ConfigError(
            f"{calibration_path} was fitted for prompt {calibration.prompt_version}, this judge uses "
            f"{expected}: run `redline judge-calibrate` again"
        )
    if calibration.model and calibration.model != settings.model:
        print(
            f"redline: warning: {calibration_path} was fitted with model {calibration.model!r}, "
            f"judging with {settings.model!r}",
            file=sys.stderr,
        )
    if getattr(args, "threshold", None) is None:
        settings = settings.with_overrides(threshold=calibration.threshold)
    return settings
