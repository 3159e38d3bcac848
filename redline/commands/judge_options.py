"""What ``redline judge``, ``describe`` and ``judge-calibrate`` share: the judge's options and settings.

Every setting of :class:`~redline.judge.settings.JudgeSettings` but the API key becomes an option of
each command (:func:`add_judge_options`, generated from :func:`~redline.judge.settings.judge_knobs`
so that no knob can miss one); :func:`settings_from_args` layers a command's defaults < the
environment < the options. :func:`make_judge` and :func:`make_embedder` are the collaborators tests
replace.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redline.adapters.embedder import Embedder, EmbeddingSettings
from redline.errors import ConfigError, InputDataError
from redline.judge.calibration import JudgeCalibration
from redline.judge.prompt import prompt_version
from redline.judge.settings import JudgeSettings, judge_knobs

if TYPE_CHECKING:  # importing it at run time costs every command openai's start-up (see make_judge)
    from redline.judge.openai_judge import OpenAIJudge


def make_judge(settings: JudgeSettings) -> OpenAIJudge:
    """The judge the commands use (tests replace this attribute)."""
    # deferred: openai and httpx take about a second to import; most commands never judge
    from redline.judge.openai_judge import OpenAIJudge

    return OpenAIJudge(settings)


def make_embedder() -> Embedder:
    """The sentence embedder, for the examples nearest to a text (tests replace this attribute)."""
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


def add_judge_options(parser: argparse.ArgumentParser, *, defaults: Mapping[str, Any] | None = None) -> None:
    """One option per judge setting (each overrides its environment variable), plus
    ``--json-format`` and ``--calibration``; ``defaults`` are the command's own defaults."""
    group = parser.add_argument_group(
        "judge endpoint", "each option overrides its environment variable; the API key is read from "
        "$OPENAI_API_KEY only (a key on a command line shows in `ps`)",
    )  # fmt: skip
    for knob in judge_knobs():
        if not knob.flag:
            continue
        default = (defaults or {}).get(knob.name, knob.default)
        shown = "unset" if default is None or default == "" else default
        text = f"{knob.help} (${knob.env}; default {shown})".replace("%", "%%")
        if knob.kind is bool:
            group.add_argument(
                knob.flag, dest=knob.name, action=argparse.BooleanOptionalAction, default=None, help=text
            )
        elif knob.choices:
            group.add_argument(knob.flag, dest=knob.name, choices=knob.choices, default=None, help=text)
        else:
            metavar = knob.flag.removeprefix("--").replace("-", "_").upper()
            group.add_argument(
                knob.flag, dest=knob.name, type=knob.kind, default=None, metavar=metavar, help=text
            )
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
    args: argparse.Namespace, *, defaults: Mapping[str, Any] | None = None, **fixed: Any
) -> JudgeSettings:
    """JudgeSettings from ``defaults`` < the environment < the options < ``fixed`` (None skipped),
    with the threshold of ``--calibration`` unless ``--threshold`` is given."""
    options = {knob.name: getattr(args, knob.name, None) for knob in judge_knobs() if knob.flag}
    options.update(fixed)
    settings = JudgeSettings.from_env(defaults=defaults, **options)
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
        settings = settings.with_(threshold=calibration.threshold)
    return settings
