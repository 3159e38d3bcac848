"""``redline kafka start | stop | status | fetch``: a real local Apache Kafka broker.

The broker is Apache Kafka (pinned in :data:`redline.broker.KAFKA_VERSION`) in KRaft mode, one
node, listening on 127.0.0.1 only. Its jars are resolved from Maven Central once and cached
under ``$REDLINE_CACHE_DIR`` (default ``~/.cache/redline``); its data, generated configuration,
log (``broker.log``) and pid file live in ``--data-dir`` (default ``./.redline/kafka``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from redline.broker import KAFKA_VERSION, BrokerSettings, LocalKafkaBroker
from redline.broker.pidfile import read_pid_file
from redline.broker.properties import client_port, parse_properties
from redline.broker.settings import DEFAULT_HEAP, DEFAULT_PORT, default_cache_dir, default_data_dir
from redline.errors import InputDataError, KafkaBrokerError


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(args.data_dir).expanduser().absolute() if args.data_dir else default_data_dir()


def recorded_port(data_dir: Path) -> int | None:
    """The client port of the broker last started from ``data_dir`` (pid file, else its config)."""
    record = read_pid_file(data_dir / "broker.pid")
    if record is not None:
        return record.port
    try:
        return client_port(parse_properties((data_dir / "server.properties").read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, InputDataError):
        return None


def build_settings(args: argparse.Namespace) -> BrokerSettings:
    """The broker settings for parsed ``redline kafka`` arguments.

    Without ``--port``, ``stop`` and ``status`` use the port recorded in the data dir's pid file
    or, after a stop, in its ``server.properties`` (so ``stop`` and ``status`` find a broker started
    with ``--port``), else the default 9092.
    """
    data_dir = _data_dir(args)
    port = getattr(args, "port", None)
    if port is None:
        port = recorded_port(data_dir) or DEFAULT_PORT
    return BrokerSettings(
        data_dir=data_dir,
        port=port,
        cache_dir=default_cache_dir(),
        heap=getattr(args, "heap", DEFAULT_HEAP),
        start_timeout_s=getattr(args, "timeout", 120.0),
        stop_timeout_s=getattr(args, "timeout", 60.0),
    )


def cmd_fetch(args: argparse.Namespace) -> int:
    """Resolve and cache the Kafka jars; print their folder."""
    jars = LocalKafkaBroker(build_settings(args)).fetch()
    print(jars.libs_dir)
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    """Start the broker (or find it running) and print its bootstrap address."""
    print(LocalKafkaBroker(build_settings(args)).start(), flush=True)
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    """Stop the broker this data dir's ``start`` launched."""
    settings = build_settings(args)
    broker = LocalKafkaBroker(settings)
    record = broker.running_record()
    if record is not None and args.port is not None and record.port != args.port:
        raise KafkaBrokerError(
            f"the broker of data dir {settings.data_dir} runs on port {record.port}, not {args.port}"
        )
    pid = broker.stop()
    if pid is None:
        print(f"redline: no broker started from {settings.data_dir} is running", file=sys.stderr)
    else:
        print(f"redline: stopped Kafka on {settings.bootstrap} (pid {pid})", file=sys.stderr)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Exit 0 iff a broker answers on the port; say whether this data dir started it."""
    settings = build_settings(args)
    status = LocalKafkaBroker(settings).status()
    owner = (
        f"pid {status.pid}, data dir {settings.data_dir}" if status.pid else "not started from this data dir"
    )
    if status.answering:
        print(f"up: {status.bootstrap} ({owner})")
        return 0
    state = f"starting or hung ({owner})" if status.pid else "down"
    print(f"{state}: nothing answers Kafka requests on {status.bootstrap}")
    return 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``kafka`` command group."""
    parser = subparsers.add_parser(
        "kafka",
        help=f"run a local Apache Kafka {KAFKA_VERSION} broker (KRaft, 127.0.0.1)",
        description=(
            f"A real Apache Kafka {KAFKA_VERSION} broker in KRaft mode on 127.0.0.1, built from Maven "
            "Central jars cached in $REDLINE_CACHE_DIR (default ~/.cache/redline). Needs Java 11+; "
            "Maven is needed once, for the download."
        ),
    )
    sub = parser.add_subparsers(dest="kafka_command", metavar="ACTION", required=True)

    def add(name: str, func: object, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--data-dir",
            default=None,
            help="broker data, config, log and pid file (default: ./.redline/kafka)",
        )
        p.set_defaults(func=func)
        return p

    start = add("start", cmd_start, "start the broker; returns once it answers; prints host:port")
    start.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"client port (default {DEFAULT_PORT})")
    start.add_argument("--heap", default=DEFAULT_HEAP, help=f"JVM max heap (default {DEFAULT_HEAP})")
    start.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for the broker to answer (default 120)"
    )
    stop = add("stop", cmd_stop, "stop the broker `start` launched from this data dir (and wait for it)")
    stop.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds to wait after SIGTERM before SIGKILL (default 60)",
    )
    status = add("status", cmd_status, "exit 0 iff a broker answers on the port")
    recorded = f"default: the port last started from the data dir, else {DEFAULT_PORT}"
    for p in (stop, status):
        p.add_argument("--port", type=int, default=None, help=f"client port ({recorded})")
    add("fetch", cmd_fetch, f"download and cache the Kafka {KAFKA_VERSION} jars only")
