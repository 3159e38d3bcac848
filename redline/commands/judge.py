"""``redline judge``, ``redline describe`` and ``redline judge-calibrate``: the LLM judge by hand.

* ``judge --text T --label L [--description D] [--examples T.jsonl]`` asks one question and prints
  one JSON verdict ``{"valid", "p_yes", "latency_ms", "tokens": {"in", "out"}, ...}``. With
  ``--examples`` the prompt shows the ``c`` training examples of L nearest to the text (by
  embedding). An unreachable endpoint gives one line on stderr and exit code 2 after the
  configured retries.
* ``describe --train T.jsonl --out labels.jsonl`` asks the LLM for one short description per label
  (see :mod:`redline.commands.judge_batch`).
* ``judge-calibrate --train T.jsonl --out calibration.json`` fits the P(yes) threshold on held-out
  questions, true label versus nearest wrong label (see :mod:`redline.commands.judge_batch`).

The endpoint comes from ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` / ``REDLINE_JUDGE_MODEL`` or the
options. :func:`make_judge` and :func:`make_embedder` are the collaborators tests replace.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redline.core.judge_interface import JudgeContext, Verdict
from redline.errors import ConfigError, InputDataError
from redline.judge.calibration import JudgeCalibration
from redline.judge.prompt import HARDENING_MODES, prompt_version
from redline.judge.questions import nearest_examples
from redline.judge.settings import JudgeSettings

if TYPE_CHECKING:
    from redline.judge.openai_judge import OpenAIJudge


def make_judge(settings: JudgeSettings) -> OpenAIJudge:
    """The judge the commands use (tests replace this attribute); imports ``openai`` lazily."""
    from redline.judge.openai_judge import OpenAIJudge

    return OpenAIJudge(settings)


def make_embedder() -> Any:
    """An object with ``encode(texts) -> ndarray`` (tests replace this attribute)."""
    from redline.adapters.embedder import EmbeddingSettings

    return EmbeddingSettings.from_env().build()


def _positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def add_endpoint_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by the judge commands (each overrides its environment variable)."""
    group = parser.add_argument_group("judge endpoint")
    group.add_argument(
        "--base-url",
        help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1 (default: $OPENAI_BASE_URL)",
    )
    group.add_argument("--model", help="model name (default: $REDLINE_JUDGE_MODEL)")
    group.add_argument("--timeout", type=float, dest="timeout_s", help="seconds per call (default 30)")
    group.add_argument("--max-retries", type=int, help="retries on 429/5xx/timeouts (default 4)")
    group.add_argument(
        "--retry-base-delay",
        type=float,
        dest="backoff_base_s",
        help="first backoff delay in seconds, doubled per retry (default 0.5)",
    )
    group.add_argument("--concurrency", type=_positive_int, help="calls in flight at once (default 4)")
    group.add_argument("--threshold", type=float, help="P(yes) at or above which the answer is yes")
    group.add_argument(
        "--calibration",
        type=Path,
        help="calibration.json from `redline judge-calibrate` "
        "(sets the threshold; must match the prompt version)",
    )
    group.add_argument(
        "--hardening", choices=HARDENING_MODES, help="prompt-injection hardening (default mask)"
    )
    group.add_argument("--json-format", action="store_true", help='ask for {"answer": ...} (response_format)')
    group.add_argument("--no-logprobs", action="store_true", help="do not ask for log-probabilities")
    group.add_argument(
        "--examples-shown", type=int, dest="max_examples", help="nearest examples shown (c, default 3)"
    )
    group.add_argument(
        "--cache",
        dest="cache_path",
        help="sqlite file for the verdict cache (default: $REDLINE_JUDGE_CACHE, else memory only)",
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


def settings_from_args(args: argparse.Namespace, **fixed: Any) -> JudgeSettings:
    """JudgeSettings from the environment, the options, and ``fixed`` (which win)."""
    options = {
        name: getattr(args, name, None)
        for name in (
            "base_url",
            "model",
            "timeout_s",
            "max_retries",
            "backoff_base_s",
            "concurrency",
            "threshold",
            "hardening",
            "max_examples",
            "cache_path",
        )
    }
    if getattr(args, "json_format", False):
        options["response_format"] = "json"
    if getattr(args, "no_logprobs", False):
        options["use_logprobs"] = False
    options.update(fixed)
    settings = JudgeSettings.from_env(**options)
    calibration_path = getattr(args, "calibration", None)
    if calibration_path is not None:
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


def verdict_json(verdict: Verdict, label: str) -> dict[str, Any]:
    """The JSON object ``redline judge`` prints."""
    return {
        "valid": verdict.valid,
        "p_yes": verdict.p_yes,
        "latency_ms": round(verdict.latency_ms, 3),
        "tokens": {"in": verdict.tokens_in, "out": verdict.tokens_out},
        "cost": verdict.cost,
        "cached": verdict.cached,
        "label": label,
        "reason": verdict.reason,
        "prompt_version": verdict.extra.get("prompt_version"),
        "model": verdict.extra.get("model"),
        "injection": verdict.extra.get("injection", []),
        "attempts": verdict.extra.get("attempts"),
    }


def _context_for(args: argparse.Namespace, c: int) -> JudgeContext:
    description = args.description or ""
    if args.labels is not None and not description:
        from redline.adapters.jsonl_files import read_labels

        description = read_labels(args.labels).get(args.label, "")
    examples: list[str] = []
    if args.examples is not None:
        from redline.adapters.jsonl_files import read_examples

        pool = [e.text for e in read_examples(args.examples) if e.label == args.label]
        if not pool:
            raise InputDataError(f"{args.examples}: no examples of label {args.label!r}")
        if len(pool) <= c:
            examples = pool
        else:
            vectors = make_embedder().encode([args.text, *pool])
            examples = nearest_examples(vectors[0], vectors[1:], pool, c)
    return JudgeContext(description=description, examples=tuple(examples))


def run_judge(args: argparse.Namespace) -> int:
    """``redline judge``: one question, one JSON verdict on stdout."""
    if not args.text.strip():
        raise InputDataError("--text is empty")
    if not args.label.strip():
        raise InputDataError("--label is empty")
    # one question: no breaker, so an unreachable endpoint fails after exactly the configured retries
    settings = settings_from_args(args, breaker_threshold=0)
    context = _context_for(args, settings.max_examples)

    async def ask() -> Verdict:
        judge = make_judge(settings)
        try:
            return await judge.judge(args.text, args.label, context)
        finally:
            await judge.aclose()

    verdict = asyncio.run(ask())
    print(json.dumps(verdict_json(verdict, args.label), ensure_ascii=False))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``judge``, ``describe`` and ``judge-calibrate``."""
    from redline.commands import judge_batch

    p = subparsers.add_parser(
        "judge",
        help="ask the LLM judge whether a text is an example of a label",
        description=run_judge.__doc__,
    )
    p.add_argument("--text", required=True, help="the text")
    p.add_argument("--label", required=True, help="the proposed label")
    p.add_argument("--description", help="the label's description")
    p.add_argument("--labels", type=Path, help="labels JSONL to take the description from")
    p.add_argument(
        "--examples", type=Path, help="training JSONL; the label's examples nearest to the text are shown"
    )
    add_endpoint_options(p)
    p.set_defaults(func=run_judge)
    judge_batch.register(subparsers)
