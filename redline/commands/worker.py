"""``redline worker``: run the stream worker (classify, judge, resolve agents) against Kafka."""

from __future__ import annotations

import argparse
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    from redline.streams.settings import StreamSettings
    from redline.streams.startup import run_worker

    settings = StreamSettings.from_env(
        bootstrap=args.bootstrap,
        app_id=args.app_id,
        topic_prefix=args.topic_prefix,
        partitions=args.partitions,
        web_port=args.web_port,
        batch_size=args.batch_size,
        batch_within_s=args.batch_within,
        judge=args.judge,
        judge_concurrency=args.judge_concurrency,
        uncertainty_threshold=args.threshold,
        judge_share=args.judge_share,
        max_candidates=args.max_candidates,
        context_examples=args.context_examples,
        learn_every=args.learn_every,
        model_dir=Path(args.model) if args.model else None,
        data_dir=Path(args.data_dir) if args.data_dir else None,
        loglevel=args.loglevel,
    )
    if args.data_dir is None:  # one folder per worker: several may run on one machine
        settings = settings.with_overrides(
            data_dir=settings.data_dir / f"{settings.app_id}-{settings.web_port}"
        )
    judge_truth = Path(args.judge_truth) if args.judge_truth else None
    return run_worker(settings, judge_truth=judge_truth)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``worker`` command."""
    p = subparsers.add_parser(
        "worker",
        help="run a stream worker: redline.texts -> redline.labels (with the judge loop)",
        description="Run the Faust worker: classify texts from <prefix>texts, ask the judge about "
        "uncertain ones (about --judge-share of the texts), emit one result per id on <prefix>labels; "
        "undecodable input goes to <prefix>deadletter. Delivery is at least once: a worker killed "
        "mid-stream may emit a second result for an id, which can differ from the first; keep the "
        "first per id (as `redline stream results` does). Settings default to REDLINE_* environment "
        "variables. "
        "Stop with Ctrl-C or SIGTERM.",
    )
    p.add_argument("--model", "-m", help="model folder written by `redline fit` (or REDLINE_MODEL_DIR)")
    p.add_argument("--bootstrap", "-b", help="Kafka bootstrap servers host:port (REDLINE_BOOTSTRAP)")
    p.add_argument(
        "--web-port", type=int, help="port of the worker's web server; one per worker (default 6066)"
    )
    p.add_argument("--app-id", help="Faust app id = consumer group (default redline)")
    p.add_argument("--topic-prefix", help="prefix of every topic (default 'redline.')")
    p.add_argument("--partitions", type=int, help="partitions of topics the worker creates (default 1)")
    p.add_argument(
        "--judge",
        help="none | simulated:<accuracy> | simulated-hard:<accuracy> (evaluation only) | openai[:<model>] "
        "(endpoint from OPENAI_BASE_URL / OPENAI_API_KEY)",
    )
    p.add_argument("--judge-truth", help="JSONL of {text, label}: the simulated expert's ground truth")
    p.add_argument("--judge-concurrency", type=int, help="judge calls in flight per worker (default 8)")
    p.add_argument(
        "--judge-share",
        type=float,
        help="judge budget: share of texts, the most uncertain, sent to the judge; the uncertainty "
        "threshold adapts to keep it (REDLINE_JUDGE_SHARE, default 0.2)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        help="fixed uncertainty at or above which the judge is asked; overrides --judge-share "
        "(REDLINE_UNCERTAINTY_THRESHOLD)",
    )
    p.add_argument(
        "--max-candidates", type=int, help="labels the judge may be asked about per text (default 5)"
    )
    p.add_argument("--context-examples", type=int, help="nearest training examples shown to the judge")
    p.add_argument(
        "--learn-every", type=int, help="learn judge-confirmed texts in batches of N (default 64; 0: off)"
    )
    p.add_argument("--batch-size", type=int, help="texts embedded and scored at once (default 64)")
    p.add_argument("--batch-within", type=float, help="seconds to wait for a batch to fill (default 0.5)")
    p.add_argument("--data-dir", help="worker-local folder (default .redline/worker)")
    p.add_argument("--loglevel", default="warning", help="Faust log level (default warning)")
    p.set_defaults(func=_run)
