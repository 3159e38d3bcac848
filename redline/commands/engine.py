"""``redline fit``, ``redline predict`` and ``redline evaluate``: the engine on JSONL files.

* ``fit --train T.jsonl [--labels L.jsonl] --out DIR`` trains a classifier and writes a model folder
  (``manifest.json`` + ``arrays.npz``, see :mod:`redline.adapters.snapshot_store`).
* ``predict --model DIR --in X.jsonl --out Y.jsonl`` adds ``prediction``, ``confidence``,
  ``uncertainty`` and ``candidates`` to every input record.
* ``evaluate --train T --pool P --test S`` fits on T, runs the recursive judge loop over P with a
  simulated expert answering from P's labels, and scores on S (``--json`` prints one JSON object,
  ``--plot`` draws the rounds).

Texts are embedded with :class:`~redline.adapters.embedder.SentenceTransformerEmbedder` through the
on-disk cache; :func:`make_embedder` is the collaborator tests replace.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from redline.adapters.embedder import Embedder, EmbeddingSettings
from redline.adapters.jsonl_files import (
    STDIO,
    Example,
    check_known_labels,
    check_label_descriptions,
    check_training_set,
    display_name,
    read_examples,
    read_labels,
    write_jsonl,
)
from redline.adapters.model_files import check_embedder
from redline.adapters.snapshot_store import FileSnapshotStore, Snapshot
from redline.errors import ConfigError, ModelError

MODEL_KIND = "redline.RedClassifier"
#: image formats ``--plot`` writes (chosen by the file suffix)
PLOT_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg")


def make_embedder(settings: EmbeddingSettings) -> Embedder:
    """The embedder the commands use (tests replace this attribute)."""
    return settings.build()


def _fraction(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0.0 < x <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a fraction of the pool in (0, 1], got {value}")
    return x


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return n


def _add_common(p: argparse.ArgumentParser, engine: bool = True) -> None:
    if engine:
        from redline.core.config import EngineConfig

        p.add_argument(
            "--config",
            default="default",
            choices=EngineConfig.presets(),
            help="engine preset (default: the best measured configuration)",
        )
        p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--batch-size", type=_positive, default=64, help="texts per embedding batch (64)")
    p.add_argument(
        "--threads",
        type=_positive,
        default=None,
        help="CPU threads for embedding (default: $REDLINE_EMBED_THREADS, else one per core)",
    )
    p.add_argument("--no-cache", action="store_true", help="do not use the on-disk embedding cache")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def register(subparsers: Any) -> None:
    """Add ``fit``, ``predict`` and ``evaluate``."""
    fit = subparsers.add_parser("fit", help="train a classifier on a JSONL file and save it to a folder")
    fit.add_argument("--train", type=Path, required=True, help='JSONL of {"text", "label"} lines')
    fit.add_argument("--labels", type=Path, help='JSONL of {"label", "description"} lines')
    fit.add_argument("--out", type=Path, required=True, help="model folder to write")
    _add_common(fit)
    fit.set_defaults(func=run_fit)

    predict = subparsers.add_parser("predict", help="label the texts of a JSONL file with a saved model")
    predict.add_argument("--model", type=Path, required=True, help="folder written by redline fit")
    predict.add_argument("--in", dest="input", type=Path, required=True, help='JSONL of {"text"} lines')
    predict.add_argument("--out", type=Path, required=True, help="JSONL to write")
    predict.add_argument("--top-k", type=_positive, default=3, help="candidates per text in the output (3)")
    _add_common(predict, engine=False)
    predict.set_defaults(func=run_predict)

    ev = subparsers.add_parser(
        "evaluate",
        help="fit, run the recursive judge loop over a pool, and score on a test set",
        description="Fit on --train, let a simulated expert judge the most uncertain texts of --pool "
        "(the loop sees pool labels only through it), retrain on validated texts, score on --test.",
    )
    ev.add_argument("--train", type=Path, required=True, help="labelled seed examples (JSONL)")
    ev.add_argument(
        "--pool", type=Path, required=True, help="the stream to label (JSONL, labels for the judge)"
    )
    ev.add_argument("--test", type=Path, required=True, help="held-out labelled examples (JSONL)")
    ev.add_argument("--labels", type=Path, help='JSONL of {"label", "description"} lines')
    ev.add_argument(
        "--judge",
        default="simulated:0.95",
        help="simulated:ACC (independent errors) or simulated-hard:ACC (confusion-aware)",
    )
    from redline.core.config import LoopConfig

    ev.add_argument(
        "--budget",
        type=_fraction,
        default=None,
        metavar="FRACTION",
        help=f"judge calls as a fraction of the pool ({LoopConfig().budget})",
    )
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--plot", type=Path, help="draw accuracy and judge yes-rate per round into this image")
    _add_common(ev)
    ev.set_defaults(func=run_evaluate)


class _RoundsBar:
    """A tqdm bar over the judge loop's rounds, fed by :func:`evaluate`'s per-round callback."""

    def __init__(self, total: int) -> None:
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


def _settings(args: argparse.Namespace) -> EmbeddingSettings:
    return EmbeddingSettings.from_env(
        batch_size=args.batch_size,
        progress=not args.no_progress,
        cache=not args.no_cache,
        threads=args.threads,
    )


def _embed(embedder: Embedder, texts: Sequence[str]) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    X = np.asarray(embedder.encode(texts), dtype=np.float32)
    if X.ndim != 2 or X.shape[0] != len(texts):
        raise ModelError(f"the embedder returned shape {X.shape} for {len(texts)} texts")
    return X, time.perf_counter() - t0


def _read_training(train: Path, labels: Path | None) -> tuple[list[Example], dict[str, str]]:
    examples = read_examples(train)
    check_training_set(examples, display_name(train))
    descriptions: dict[str, str] = {}
    if labels is not None:
        descriptions = read_labels(labels)
        check_label_descriptions(
            descriptions, {str(e.label) for e in examples}, display_name(labels), display_name(train)
        )
    return examples, descriptions


def run_fit(args: argparse.Namespace) -> int:
    """Train on ``--train`` and write the model folder ``--out``."""
    from redline.core.classifier import RedClassifier
    from redline.core.config import EngineConfig
    from redline.core.judge_budget import held_out_uncertainty, uncertainty_quantiles

    examples, descriptions = _read_training(args.train, args.labels)
    engine = EngineConfig.named(args.config, seed=args.seed)
    embedder = make_embedder(_settings(args))
    texts = [e.text for e in examples]
    X, seconds = _embed(embedder, texts)
    y = [str(e.label) for e in examples]
    model = RedClassifier(engine).fit(X, texts, y, descriptions)
    # uncertainties of texts the model has not seen (3-fold cross-fitting): they warm-start the
    # stream worker's judge budget (in-sample ones are far too low to be useful)
    held_out = held_out_uncertainty(
        lambda: RedClassifier(engine), X, texts, y, engine.uncertainty, seed=args.seed
    )
    metadata = {
        "kind": MODEL_KIND,
        "embedder": getattr(embedder, "model_id", type(embedder).__name__),
        "dimension": int(X.shape[1]),
        "preset": args.config,
        "train_file": str(args.train),
        "examples": len(examples),
        "labels": len(model.classes_),
        "uncertainty_quantiles": uncertainty_quantiles(held_out),
    }
    where = FileSnapshotStore(args.out).save("", Snapshot(model.to_state(), metadata))
    print(
        f"fitted {len(model.classes_)} labels on {len(examples)} examples "
        f"(embedding {seconds:.1f} s) -> {where}"
    )
    return 0


def load_model(folder: Path, embedder: Embedder) -> Any:
    """Read a model folder and check that it was built with the same embeddings."""
    from redline.core.classifier import RedClassifier

    snapshot = FileSnapshotStore(folder).load("")
    meta = snapshot.metadata
    if meta.get("kind") != MODEL_KIND:
        raise ModelError(f"{folder}: not a redline classifier (kind={meta.get('kind')!r})")
    check_embedder(meta, embedder, folder)
    try:
        return RedClassifier.from_state(snapshot.state)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{folder}: the model state is incomplete or damaged ({exc!r})") from exc


def run_predict(args: argparse.Namespace) -> int:
    """Label every record of ``--in`` and write them to ``--out``."""
    embedder = make_embedder(_settings(args))
    model = load_model(args.model, embedder)
    examples = read_examples(args.input, require_label=False)
    texts = [e.text for e in examples]
    X, seconds = _embed(embedder, texts)
    scores = model.predict_scores(X, texts)
    proba = scores.proba
    uncertainty = scores.uncertainty(model.config.uncertainty)
    classes = model.classes_.tolist()
    k = min(args.top_k, len(classes))
    order = np.argsort(-proba, axis=1, kind="stable")[:, :k]

    def records() -> Any:
        for i, e in enumerate(examples):
            rec: dict[str, Any] = {**e.extra, "text": e.text}
            if e.label is not None:
                rec["label"] = e.label
            top = order[i]
            rec["prediction"] = classes[top[0]]
            rec["confidence"] = round(float(proba[i, top[0]]), 6)
            rec["uncertainty"] = round(float(uncertainty[i]), 6)
            rec["candidates"] = [{"label": classes[j], "p": round(float(proba[i, j]), 6)} for j in top]
            yield rec

    n = write_jsonl(args.out, records())
    labelled = [(i, e.label) for i, e in enumerate(examples) if e.label is not None]
    summary = f"labelled {n} texts (embedding {seconds:.1f} s) -> {args.out}"
    if labelled:
        hits = sum(classes[order[i][0]] == label for i, label in labelled)
        summary += f"; accuracy on the {len(labelled)} labelled input texts: {hits / len(labelled):.4f}"
    print(summary, file=sys.stderr if str(args.out) == STDIO else sys.stdout)
    return 0


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


def run_evaluate(args: argparse.Namespace) -> int:
    """Fit, run the judge loop, score; print a summary or one JSON object."""
    from redline.core.config import EngineConfig, LoopConfig
    from redline.core.evaluation import LabelledSet, evaluate
    from redline.judge.simulated_expert import SimulatedExpert
    from redline.judge.specs import simulated_expert

    # reject a bad --judge before any work (the vectors only satisfy the confusion-aware mode's check)
    SimulatedExpert.from_spec(args.judge, {}, {"_": np.ones(1)})
    if args.plot is not None:
        _check_plot_path(args.plot)
    train, descriptions = _read_training(args.train, args.labels)
    known = {str(e.label) for e in train}
    pool = read_examples(args.pool)
    check_known_labels(pool, known, display_name(args.pool), display_name(args.train))
    test = read_examples(args.test)
    check_known_labels(test, known, display_name(args.test), display_name(args.train))
    engine = EngineConfig.named(args.config, seed=args.seed)
    loop = LoopConfig() if args.budget is None else LoopConfig(budget=args.budget)

    embedder = make_embedder(_settings(args))
    parts = (train, pool, test)
    texts = [e.text for part in parts for e in part]
    X, seconds = _embed(embedder, texts)
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
        result = evaluate(
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
        from redline.commands.round_plot import plot_rounds

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
