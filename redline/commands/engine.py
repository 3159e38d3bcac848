"""``redline fit``, ``redline predict`` and ``redline evaluate``: the engine on JSONL files.

* ``fit --train T.jsonl [--labels L.jsonl] --out DIR`` trains a classifier and writes a model folder
  (``manifest.json`` + ``arrays.npz``, see :mod:`redline.adapters.model_files`); with ``--publish``
  it then publishes the model to the deployment on ``--bootstrap`` / ``--topic-prefix``.
* ``predict --model DIR --in X.jsonl --out Y.jsonl`` adds ``prediction``, ``confidence``,
  ``uncertainty`` and ``candidates`` to every input record.
* ``evaluate --train T --pool P --test S`` fits on T, runs the recursive judge loop over P with a
  simulated expert answering from P's labels, and scores on S (``--json`` prints one JSON object,
  ``--plot`` draws the rounds).

This module registers the commands; they run in :mod:`redline.commands.fit_predict` and
:mod:`redline.commands.evaluate_command`. Texts are embedded with
:class:`~redline.adapters.embedder.SentenceTransformerEmbedder` through the on-disk cache;
:func:`make_embedder` is the collaborator tests replace.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redline.commands import evaluate_command, fit_predict
from redline.commands.deployment_client import add_deployment_flags
from redline.commands.engine_inputs import EmbedderFactory
from redline.commands.settings_flags import SettingsHelpFormatter
from redline.core.config import EngineConfig, LoopConfig

if TYPE_CHECKING:  # deferred: the embedder module loads pydantic (0.2-0.4 s), not needed for `--help`
    from redline.adapters.embedder import Embedder, EmbeddingSettings


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
    fit = subparsers.add_parser(
        "fit",
        help="train a classifier on a JSONL file and save it to a folder",
        formatter_class=SettingsHelpFormatter,
    )
    fit.add_argument("--train", type=Path, required=True, help='JSONL of {"text", "label"} lines')
    fit.add_argument("--labels", type=Path, help='JSONL of {"label", "description"} lines')
    fit.add_argument("--out", type=Path, required=True, help="model folder to write")
    _add_common(fit)
    fit.add_argument(
        "--publish",
        action="store_true",
        help="then publish the model to the deployment (<prefix>models and <prefix>examples), whose "
        "workers start from it",
    )
    fit.add_argument("--force", action="store_true", help="publish even if a model is already published")
    add_deployment_flags(fit, "deployment (with --publish)")
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


def _embedder_factory(args: argparse.Namespace) -> EmbedderFactory:
    """Builds this run's embedder from the command line and the environment when first needed."""

    def new_embedder() -> Embedder:
        from redline.adapters.embedder import EmbeddingSettings

        settings = EmbeddingSettings.from_env(
            batch_size=args.batch_size,
            progress=not args.no_progress,
            cache=not args.no_cache,
            threads=args.threads,
        )
        return make_embedder(settings)

    return new_embedder


def run_fit(args: argparse.Namespace) -> int:
    """Train on ``--train`` and write the model folder ``--out``."""
    return fit_predict.fit(args, _embedder_factory(args))


def run_predict(args: argparse.Namespace) -> int:
    """Label every record of ``--in`` and write them to ``--out``."""
    return fit_predict.predict(args, _embedder_factory(args))


def run_evaluate(args: argparse.Namespace) -> int:
    """Fit, run the judge loop, score; print a summary or one JSON object."""
    return evaluate_command.evaluate(args, _embedder_factory(args))
