"""``redline worker``: run the stream worker (classify, judge, resolve agents) against Kafka.

Every :class:`~redline.streams.settings.StreamSettings` knob has one flag here (:data:`WORKER_FLAGS`)
and one ``REDLINE_*`` variable; a flag wins over its variable. The ``--kafka-*`` flags set
:class:`~redline.streams.kafka_security.KafkaSecurity`.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from redline.commands.settings_flags import (
    SettingsHelpFormatter,
    add_kafka_security_flags,
    add_setting_flags,
    kafka_security_from_args,
    long_flags,
    setting_values,
)

if TYPE_CHECKING:
    from redline.streams.settings import StreamSettings

STREAM_SETTINGS = "redline.streams.settings:StreamSettings"
#: the flag of every StreamSettings field (but ``security``: the ``--kafka-*`` flags)
WORKER_FLAGS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "model_dir": ("--model", "-m"),
        "bootstrap": ("--bootstrap", "-b"),
        "app_id": ("--app-id",),
        "topic_prefix": ("--topic-prefix",),
        "partitions": ("--partitions",),
        "replication": ("--replication",),
        "web_host": ("--web-host",),
        "web_port": ("--web-port",),
        "batch_size": ("--batch-size",),
        "batch_within_s": ("--batch-within",),
        "embed_batches": ("--embed-batches",),
        "hop_within_s": ("--hop-within",),
        "producer_linger_s": ("--producer-linger",),
        "blas_threads": ("--blas-threads",),
        "judge": ("--judge",),
        "judge_concurrency": ("--judge-concurrency",),
        "judge_questions_per_hop": ("--judge-questions-per-hop",),
        "judge_share": ("--judge-share",),
        "uncertainty_threshold": ("--threshold",),
        "max_candidates": ("--max-candidates",),
        "context_examples": ("--context-examples",),
        "learn_every": ("--learn-every",),
        "learn_interval_s": ("--learn-interval",),
        "learn_min_interval_s": ("--learn-min-interval",),
        "learn_time_share": ("--learn-time-share",),
        "learn_defer_s": ("--learn-defer",),
        "learn_yield": ("--learn-yield",),
        "model_secret": ("--model-secret",),
        "refit_interval_s": ("--refit-interval",),
        "session_timeout_s": ("--session-timeout",),
        "drift": ("--drift",),
        "drift_detector": ("--drift-detector",),
        "drift_sensitivity": ("--drift-sensitivity",),
        "drift_min_evidence": ("--drift-min-evidence",),
        "drift_min_effect": ("--drift-min-effect",),
        "drift_boost_share": ("--drift-boost-share",),
        "drift_boost_texts": ("--drift-boost-texts",),
        "drift_relearn": ("--drift-relearn",),
        "new_intent_min_size": ("--new-intent-min-size",),
        "new_intent_similarity": ("--new-intent-similarity",),
        "new_intent_window": ("--new-intent-window",),
        "max_text_chars": ("--max-text-chars",),
        "truncate_texts": ("--truncate-texts",),
        "ready_timeout_s": ("--ready-timeout",),
        "data_dir": ("--data-dir",),
        "metrics": ("--metrics",),
        "loglevel": ("--loglevel",),
        "log_json": ("--log-json",),
    }
)
#: the on/off fields: ``--name`` / ``--no-name``
WORKER_SWITCHES = frozenset({"truncate_texts", "metrics", "log_json", "drift"})


def worker_settings(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> StreamSettings:
    """The worker's settings: ``REDLINE_*`` variables of ``environ`` (None: ``os.environ``), then flags.

    Without ``--data-dir`` the worker's folder is ``<data dir>/<app id>-<web port>``: several workers
    may run on one machine.
    """
    from redline.streams.settings import StreamSettings

    settings = StreamSettings.from_env(
        environ,
        flags=long_flags(WORKER_FLAGS),
        security=kafka_security_from_args(args, environ),
        **setting_values(args, WORKER_FLAGS),
    )
    if args.data_dir is None:
        settings = settings.with_overrides(
            data_dir=settings.data_dir / f"{settings.app_id}-{settings.web_port}"
        )
    return settings


def _run(args: argparse.Namespace) -> int:
    from redline.streams.startup import run_worker

    settings = worker_settings(args)
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
        "first per id (as `redline stream results` does). Every setting has a REDLINE_* variable "
        "(named in its help); a flag wins over its variable. Without --data-dir the worker's folder "
        "is <data dir>/<app id>-<web port>. Stop with Ctrl-C or SIGTERM.",
        formatter_class=SettingsHelpFormatter,
    )
    p.add_argument("--judge-truth", help="JSONL of {text, label}: the simulated expert's ground truth")
    group = p.add_argument_group("worker settings")
    add_setting_flags(group, STREAM_SETTINGS, WORKER_FLAGS, WORKER_SWITCHES)
    add_kafka_security_flags(p)
    p.set_defaults(func=_run)
