"""``redline evaluate``: fit on a seed, run the recursive judge loop over a pool, score on a test set."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from redline.adapters.jsonl_files import check_known_labels, display_name, read_examples
from redline.commands.engine_inputs import EmbedderFactory, embed_texts, read_training
from redline.core.config import EngineConfig, LoopConfig
from redline.errors import ConfigError
from redline.judge.simulated_expert import SimulatedExpert
from redline.judge.specs import simulated_expert

#: image formats ``--plot`` writes (chosen by the file suffix)
PLOT_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg")


class _RoundsBar:
    """A tqdm bar over the judge loop's rounds, fed by :func:`evaluate`'s per-round callback."""

    def __init__(self, total: int) -> None:
        # deferred: tqdm is only needed once a run starts
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc="rounds", unit="round")

    def __call__(self, record: dict[str, Any]) -> None:
        self._bar.update(1)
        self._bar.set_postfix(
            test=f"{record['test_accuracy']:.3f}", delivered=f"{record['delivered_accuracy']:.3f}"
        )

    def close(self) -> None:
        """Finish the bar (the loop may stop before its last planned round)."""
        self._bar.close()


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def evaluate(args: argparse.Namespace, new_embedder: EmbedderFactory) -> int:
    """Fit, run the judge loop, score; print a summary or one JSON object."""
    # deferred: the evaluation pulls in scipy.sparse (about 0.15 s); `redline --help` need not pay for it
    from redline.core.evaluation import LabelledSet
    from redline.core.evaluation import evaluate as run_evaluation

    # reject a bad --judge before any work (the vectors only satisfy the confusion-aware mode's check)
    SimulatedExpert.from_spec(args.judge, {}, {"_": np.ones(1)})
    if args.plot is not None:
        _check_plot_path(args.plot)
    train, descriptions = read_training(args.train, args.labels)
    known = {str(e.label) for e in train}
    pool = read_examples(args.pool)
    check_known_labels(pool, known, display_name(args.pool), display_name(args.train))
    test = read_examples(args.test)
    check_known_labels(test, known, display_name(args.test), display_name(args.train))
    engine = EngineConfig.named(args.config, seed=args.seed)
    loop = LoopConfig() if args.budget is None else LoopConfig(budget=args.budget)

    embedder = new_embedder()
    parts = (train, pool, test)
    texts = [e.text for part in parts for e in part]
    X, seconds = embed_texts(embedder, texts)
    sets, start = [], 0
    for part in parts:
        sets.append(
            LabelledSet(
                tuple(e.text for e in part), tuple(str(e.label) for e in part), X[start : start + len(part)]
            )
        )
        start += len(part)
    seed_set, pool_set = sets[0], sets[1]
    judge = simulated_expert(
        args.judge, dict(zip(pool_set.texts, pool_set.labels, strict=True)), seed_set.X, seed_set.labels,
        seed=engine.seed,
    )
    bar = None if args.no_progress else _RoundsBar(loop.max_rounds + 1)
    try:
        result = run_evaluation(
            sets[0],
            sets[1],
            sets[2],
            engine=engine,
            loop=loop,
            judge=judge,
            label_descriptions=descriptions or None,
            progress=bar,
        )
    finally:
        if bar is not None:
            bar.close()
    out = _json_safe(result.to_dict())
    out["preset"] = args.config
    out["judge_spec"] = args.judge
    out["embedding"] = {"texts": len(texts), "seconds": round(seconds, 3)}
    plot_error: ConfigError | None = None
    if args.plot is not None:
        # deferred: the plot pulls in matplotlib (about 0.5 s), only for --plot
        from redline.commands.evaluate_plot import plot_rounds

        title = f"redline evaluate: {args.config}, judge {args.judge}, budget {loop.budget:.0%}"
        try:
            plot_rounds(out["rounds_detail"], args.plot, title, out.get("baseline_accuracy"))
            out["plot"] = str(args.plot)
        except ConfigError as exc:  # print the results first: a failed plot must not lose them
            plot_error = exc
    _print_result(out, args.json)
    if plot_error is not None:
        raise plot_error
    return 0


def _check_plot_path(path: Path) -> None:
    """Fail before the work, not after it, on a plot path that cannot be written."""
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, expected an image file to write")
    if path.suffix.lower().lstrip(".") not in PLOT_FORMATS:
        raise ConfigError(f"{path}: unsupported plot format; use one of .{', .'.join(PLOT_FORMATS)}")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ConfigError(f"{path}: cannot write here ({parent} is not a writable folder)")


def _print_result(out: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(out, allow_nan=False))
        return
    rows = [
        (
            "test accuracy",
            f"{out['accuracy']:.4f}  (flat LR on the seed only: {out['baseline_accuracy']:.4f})",
        ),
        ("macro F1", f"{out['macro_f1']:.4f}"),
        ("delivered accuracy", f"{out['delivered_accuracy']:.4f} over {out['pool_size']} pool texts"),
        (
            "judge calls",
            f"{out['judge_calls']} ({out['judge_calls'] / max(out['pool_size'], 1):.1%} of the pool)",
        ),
        ("unresolved", str(out["unresolved"])),
        ("rounds", f"{out['rounds']} ({out.get('stop_reason', '')})"),
    ]
    for name, value in rows:
        print(f"{name:>20}: {value}")
    if "plot" in out:
        print(f"{'plot':>20}: {out['plot']}")
    sys.stdout.flush()
