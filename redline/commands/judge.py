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
options (:mod:`redline.commands.judge_options`: one option per judge setting, shared by the three
commands).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

from redline.adapters.jsonl_files import read_examples, read_labels
from redline.commands import judge_batch, judge_options
from redline.commands.settings_flags import SettingsHelpFormatter
from redline.core.judge_interface import JudgeContext, Verdict
from redline.errors import InputDataError
from redline.judge.questions import nearest_examples

#: ``redline judge`` asks one question: no breaker, so an unreachable endpoint fails after exactly
#: the configured retries (``--breaker-threshold`` or its variable still win)
JUDGE_DEFAULTS = MappingProxyType({"breaker_threshold": 0})


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
        description = read_labels(args.labels).get(args.label, "")
    examples: list[str] = []
    if args.examples is not None:
        pool = [e.text for e in read_examples(args.examples) if e.label == args.label]
        if not pool:
            raise InputDataError(f"{args.examples}: no examples of label {args.label!r}")
        if len(pool) <= c:
            examples = pool
        else:
            vectors = judge_options.make_embedder().encode([args.text, *pool])
            examples = nearest_examples(vectors[0], vectors[1:], pool, c)
    return JudgeContext(description=description, examples=tuple(examples))


def run_judge(args: argparse.Namespace) -> int:
    """``redline judge``: one question, one JSON verdict on stdout."""
    if not args.text.strip():
        raise InputDataError("--text is empty")
    if not args.label.strip():
        raise InputDataError("--label is empty")
    settings = judge_options.settings_from_args(args, defaults=JUDGE_DEFAULTS)
    context = _context_for(args, settings.max_examples)

    async def ask() -> Verdict:
        judge = judge_options.make_judge(settings)
        try:
            return await judge.judge(args.text, args.label, context)
        finally:
            await judge.aclose()

    verdict = asyncio.run(ask())
    print(json.dumps(verdict_json(verdict, args.label), ensure_ascii=False))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``judge``, ``describe`` and ``judge-calibrate``."""
    p = subparsers.add_parser(
        "judge",
        help="ask the LLM judge whether a text is an example of a label",
        description=f"{run_judge.__doc__} One question: no circuit breaker unless --breaker-threshold "
        "or its variable asks for one, so an unreachable endpoint fails after the configured retries.",
        formatter_class=SettingsHelpFormatter,
    )
    p.add_argument("--text", required=True, help="the text")
    p.add_argument("--label", required=True, help="the proposed label")
    p.add_argument("--description", help="the label's description")
    p.add_argument("--labels", type=Path, help="labels JSONL to take the description from")
    p.add_argument(
        "--examples", type=Path, help="training JSONL; the label's examples nearest to the text are shown"
    )
    judge_options.add_judge_options(p)
    p.set_defaults(func=run_judge)
    judge_batch.register(subparsers)
