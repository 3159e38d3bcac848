"""``redline describe`` and ``redline judge-calibrate``: many judge calls over a training file.

* ``describe --train T.jsonl --out labels.jsonl [--model M]`` asks the LLM (``--model`` or
  ``$REDLINE_DESCRIBE_MODEL`` names a larger one) to describe each label in one sentence from its
  examples, as the R.E.D. method prescribes. The output is plain, editable JSONL:
  ``{"label", "description", "prompt_version", "model"}`` per line
  (``redline.adapters.jsonl_files.read_labels`` reads it back).
* ``judge-calibrate --train T.jsonl --out calibration.json`` holds out ``--per-label`` texts per
  label, asks the judge about each against its true label and its nearest wrong label (centroids
  of example embeddings), fits the P(yes) threshold and writes it with the prompt version and model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
from collections import defaultdict
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from redline.adapters.jsonl_files import read_examples, read_labels, write_jsonl
from redline.commands import judge_options
from redline.commands.settings_flags import SettingsHelpFormatter
from redline.errors import InputDataError, JudgeError
from redline.judge.calibration import calibrate
from redline.judge.prompt import (
    DESCRIBE_PROMPT_VERSION,
    clean_description,
    describe_prompt,
    prompt_version,
)
from redline.judge.questions import hard_negative_questions

#: batch jobs may wait longer for a down endpoint than one question (options and variables still win)
BATCH_DEFAULTS = MappingProxyType({"max_outage_s": 300.0})
_OUTAGE_NOTE = "A down endpoint is waited for up to 300 s unless --max-outage or its variable says otherwise."


def _examples_by_label(path: Path) -> dict[str, list[str]]:
    by_label: dict[str, list[str]] = defaultdict(list)
    for example in read_examples(path):
        by_label[str(example.label)].append(example.text)
    return dict(by_label)


def run_describe(args: argparse.Namespace) -> int:
    """``redline describe``: one short LLM-written description per label, as JSONL."""
    by_label = _examples_by_label(args.train)
    model = args.model or os.environ.get("REDLINE_DESCRIBE_MODEL") or None
    settings = judge_options.settings_from_args(args, defaults=BATCH_DEFAULTS, model=model)
    rng = random.Random(args.seed)
    requests = {
        label: describe_prompt(
            label,
            rng.sample(texts, min(len(texts), args.examples_per_label)),
            max_examples=args.examples_per_label,
        )
        for label, texts in sorted(by_label.items())
    }

    async def describe_all() -> tuple[dict[str, str], dict[str, Any]]:
        judge = judge_options.make_judge(settings)
        try:
            from tqdm import tqdm  # deferred: 50 ms of every CLI start-up, for a progress bar

            bar = tqdm(total=len(requests), desc="describing labels", unit="label", disable=args.quiet)

            async def one(messages: list[dict[str, str]]) -> str:
                try:
                    return clean_description(await judge.complete(messages, max_tokens=args.max_tokens))
                finally:
                    bar.update(1)

            texts = await asyncio.gather(*(one(m) for m in requests.values()))
            bar.close()
            return dict(zip(requests, texts, strict=True)), judge.stats()
        finally:
            await judge.aclose()

    descriptions, stats = asyncio.run(describe_all())
    write_jsonl(
        args.out,
        (
            {
                "label": label,
                "description": text,
                "prompt_version": DESCRIBE_PROMPT_VERSION,
                "model": settings.model,
            }
            for label, text in descriptions.items()
        ),
    )
    empty = sorted(label for label, text in descriptions.items() if not text)
    if empty:
        print(
            f"redline: warning: {len(empty)} labels got no usable description (e.g. {empty[0]!r}); "
            f"edit {args.out}",
            file=sys.stderr,
        )
    summary = {
        "labels": len(descriptions),
        "empty": len(empty),
        "out": str(args.out),
        "model": settings.model,
        "prompt_version": DESCRIBE_PROMPT_VERSION,
        "tokens": {"in": stats["tokens_in"], "out": stats["tokens_out"]},
        "cost": stats["cost"],
        "calls": stats["calls"],
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    """``redline judge-calibrate``: fit the P(yes) threshold on held-out hard questions."""
    examples = read_examples(args.train)
    texts = [e.text for e in examples]
    labels = [str(e.label) for e in examples]
    if len(set(labels)) < 2:
        raise InputDataError(f"{args.train}: calibration needs at least two labels")
    descriptions = read_labels(args.labels) if args.labels is not None else {}
    settings = judge_options.settings_from_args(args, defaults=BATCH_DEFAULTS)
    settings = settings.with_overrides(threshold=0.5)  # P(yes) is fitted; the threshold plays no part
    embeddings = np.asarray(judge_options.make_embedder().encode(texts))
    questions = hard_negative_questions(
        texts,
        labels,
        embeddings,
        per_label=args.per_label,
        c=settings.max_examples,
        descriptions=descriptions,
        seed=args.seed,
    )
    if args.max_questions is not None and len(questions) > args.max_questions:
        pairs = list(range(len(questions) // 2))
        keep = sorted(random.Random(args.seed).sample(pairs, args.max_questions // 2))
        questions = [q for i in keep for q in (questions[2 * i], questions[2 * i + 1])]
    if not questions:
        raise InputDataError(f"{args.train}: no label has two or more examples to hold one out")

    async def ask_all() -> tuple[list[Any], dict[str, Any], str]:
        judge = judge_options.make_judge(settings)
        try:
            verdicts = await judge.judge_many(questions, on_error="verdict", progress=not args.quiet)
            return (
                verdicts,
                judge.stats(),
                prompt_version(settings.hardening, settings.response_format),
            )
        finally:
            await judge.aclose()

    verdicts, stats, version = asyncio.run(ask_all())
    versions = {v.extra.get("prompt_version") for v in verdicts if v.extra.get("prompt_version")}
    if len(versions) == 1:
        version = str(versions.pop())  # e.g. the server refused json and the judge fell back to text
    truth = [bool(q.truth) for q in questions]
    try:
        result = calibrate(
            [v.p_yes for v in verdicts],
            truth,
            prompt_version=version,
            model=settings.model,
            words=[v.extra.get("word") if isinstance(v.extra.get("word"), bool) else None for v in verdicts],
            seed=args.seed,
        )
    except InputDataError as exc:
        failed = sum(v.valid is None for v in verdicts)
        raise JudgeError(
            f"cannot calibrate: {exc} ({failed} of {len(verdicts)} questions unanswered)"
        ) from None
    record = {
        **result.to_dict(),
        "train": str(args.train),
        "per_label": args.per_label,
        "seed": args.seed,
        "tokens": {"in": stats["tokens_in"], "out": stats["tokens_out"]},
        "cost": stats["cost"],
        "mean_latency_ms": stats["mean_latency_ms"],
        "unanswered": sum(v.valid is None for v in verdicts),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    print(json.dumps(record, ensure_ascii=False))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``describe`` and ``judge-calibrate``."""
    p = subparsers.add_parser(
        "describe",
        help="let the LLM write one short description per label",
        description=f"{run_describe.__doc__} {_OUTAGE_NOTE}",
        formatter_class=SettingsHelpFormatter,
    )
    p.add_argument("--train", type=Path, required=True, help="training JSONL ({text, label} lines)")
    p.add_argument("--out", type=Path, required=True, help="labels JSONL to write")
    p.add_argument(
        "--examples-per-label",
        type=judge_options.positive_int,
        default=20,
        help="examples shown per label (default 20)",
    )
    p.add_argument("--max-tokens", type=judge_options.positive_int, default=80, help="tokens per description")
    _common(p)
    p.set_defaults(func=run_describe)

    p = subparsers.add_parser(
        "judge-calibrate",
        help="fit the judge's P(yes) threshold on held-out questions",
        description=f"{run_calibrate.__doc__} {_OUTAGE_NOTE}",
        formatter_class=SettingsHelpFormatter,
    )
    p.add_argument("--train", type=Path, required=True, help="training JSONL ({text, label} lines)")
    p.add_argument("--out", type=Path, required=True, help="calibration JSON to write")
    p.add_argument("--labels", type=Path, help="labels JSONL with descriptions")
    p.add_argument(
        "--per-label",
        type=judge_options.positive_int,
        default=2,
        help="held-out texts per label (default 2; each gives a true and a hard-negative question)",
    )
    p.add_argument("--max-questions", type=judge_options.positive_int, help="cap on questions asked")
    _common(p)
    p.set_defaults(func=run_calibrate)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="seed of sampling (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    judge_options.add_judge_options(p)
