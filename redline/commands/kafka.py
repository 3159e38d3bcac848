"""``redline kafka start | stop | status | fetch``: a real local Apache Kafka broker.

The broker is Apache Kafka (default :data:`redline.broker.KAFKA_VERSION`; ``--kafka-version`` or
``$REDLINE_KAFKA_VERSION`` picks another 4.x or a 3.9 release) in KRaft mode, one node, listening on
127.0.0.1 only. Its jars are resolved from Maven Central once and cached under
``$REDLINE_CACHE_DIR`` (default ``~/.cache/redline``); its data, generated configuration, log
(``broker.log``) and pid file live in ``--data-dir`` (default ``./.redline/kafka``).

``start`` can add a SASL_PLAINTEXT listener (``--sasl-port``, users from ``--sasl-user
NAME:PASSWORD`` or ``$REDLINE_BROKER_SASL_USERS``) and an SSL listener (``--ssl-port``, with a
throwaway CA made in ``--ssl-dir``, default ``<data dir>/tls``), each on its own port.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from redline.broker import KAFKA_VERSION, BrokerSettings, LocalKafkaBroker
from redline.broker.certs import load_test_certificates, make_test_certificates
from redline.broker.pidfile import read_pid_file
from redline.broker.properties import client_port, parse_properties
from redline.broker.security import SASL_MECHANISMS, BrokerSasl, BrokerTls, SaslUser
from redline.broker.settings import (
    DEFAULT_HEAP,
    DEFAULT_JIT,
    DEFAULT_PORT,
    JIT_MODES,
    KAFKA_3_VERSION,
    KAFKA_VERSION_ENV,
    default_cache_dir,
    default_data_dir,
)
from redline.errors import ConfigError, InputDataError, KafkaBrokerError

#: SASL users of ``start`` as ``NAME:PASSWORD,NAME:PASSWORD`` (keeps passwords off the process list)
SASL_USERS_ENV = "REDLINE_BROKER_SASL_USERS"


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
    version = getattr(args, "kafka_version", None)
    return BrokerSettings(
        data_dir=data_dir,
        port=port,
        cache_dir=default_cache_dir(),
        heap=getattr(args, "heap", DEFAULT_HEAP),
        jit=getattr(args, "jit", DEFAULT_JIT),
        start_timeout_s=getattr(args, "timeout", 120.0),
        stop_timeout_s=getattr(args, "timeout", 60.0),
        **({"kafka_version": version} if version else {}),
        sasl=sasl_listener(args),
        tls=tls_listener(args, data_dir),
    )


def sasl_users(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> tuple[SaslUser, ...]:
    """The users of ``--sasl-user`` (repeatable), else of ``$REDLINE_BROKER_SASL_USERS``."""
    env = os.environ if environ is None else environ
    given = list(getattr(args, "sasl_user", None) or [])
    if not given and env.get(SASL_USERS_ENV, "").strip():
        given = [item for item in env[SASL_USERS_ENV].split(",") if item.strip()]
    return tuple(SaslUser.parse(item) for item in given)


def sasl_listener(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> BrokerSasl | None:
    """The SASL_PLAINTEXT listener ``--sasl-port`` asks for, or None.

    Raises
    ------
    ConfigError
        Users or mechanisms without ``--sasl-port``, or a port without users.
    """
    port = getattr(args, "sasl_port", None)
    mechanisms = getattr(args, "sasl_mechanisms", None)
    if port is None:
        if getattr(args, "sasl_user", None) or mechanisms:
            raise ConfigError("--sasl-user and --sasl-mechanisms need --sasl-port")
        return None
    users = sasl_users(args, environ)
    if not users:
        raise ConfigError(f"--sasl-port needs at least one --sasl-user NAME:PASSWORD (or ${SASL_USERS_ENV})")
    chosen = tuple(m for m in (mechanisms or ",".join(SASL_MECHANISMS)).split(",") if m.strip())
    return BrokerSasl(port=port, users=users, mechanisms=chosen)


def tls_listener(args: argparse.Namespace, data_dir: Path) -> BrokerTls | None:
    """The SSL listener ``--ssl-port`` asks for, with the throwaway CA of ``--ssl-dir``, or None.

    The CA, the broker's keystore and truststore and a client certificate are made there (with
    ``openssl`` and ``keytool``) unless they already are.
    """
    port = getattr(args, "ssl_port", None)
    ssl_dir = getattr(args, "ssl_dir", None)
    if port is None:
        if ssl_dir:
            raise ConfigError("--ssl-dir needs --ssl-port")
        return None
    directory = Path(ssl_dir).expanduser().absolute() if ssl_dir else data_dir / "tls"
    certs = load_test_certificates(directory) or make_test_certificates(directory, client=True)
    return BrokerTls(
        port=port,
        keystore=certs.keystore,
        keystore_password=certs.store_password,
        truststore=certs.truststore,
        truststore_password=certs.store_password,
    )


def cmd_fetch(args: argparse.Namespace) -> int:
    """Resolve and cache the Kafka jars; print their folder."""
    jars = LocalKafkaBroker(build_settings(args)).fetch()
    print(jars.libs_dir)
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    """Start the broker (or find it running) and print its bootstrap address.

    The secured listeners, if any, are named on stderr (stdout stays the one PLAINTEXT address
    scripts capture).
    """
    settings = build_settings(args)
    print(LocalKafkaBroker(settings).start(), flush=True)
    if settings.tls is not None:
        ca = settings.tls.keystore.parent / "ca.pem"
        print(f"redline: SSL clients: --kafka-ssl-cafile {ca}", file=sys.stderr)
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
            f"A real Apache Kafka broker ({KAFKA_VERSION} unless --kafka-version or ${KAFKA_VERSION_ENV} "
            f"says otherwise, e.g. {KAFKA_3_VERSION}) in KRaft mode on 127.0.0.1, built from Maven "
            "Central jars cached in $REDLINE_CACHE_DIR (default ~/.cache/redline). Needs Java 17+ "
            "(Kafka 3.9: 11+); Maven is needed once per release, for the download."
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

    def add_version(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--kafka-version",
            default=None,
            metavar="X.Y.Z",
            help=f"Kafka release: 4.x or the 3.9 line (default ${KAFKA_VERSION_ENV}, else {KAFKA_VERSION})",
        )

    start = add("start", cmd_start, "start the broker; returns once it answers; prints host:port")
    start.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"client port (default {DEFAULT_PORT})")
    add_version(start)
    start.add_argument("--heap", default=DEFAULT_HEAP, help=f"JVM max heap (default {DEFAULT_HEAP})")
    start.add_argument(
        "--jit",
        choices=JIT_MODES,
        default=DEFAULT_JIT,
        help=f"the JVM's compilers: c1 (quick, leaves the cores to workers on the same machine) or tiered "
        f"(adds C2: a broker with cores of its own) (default {DEFAULT_JIT})",
    )
    start.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for the broker to answer (default 120)"
    )
    start.add_argument(
        "--sasl-port", type=int, default=None, help="add a SASL_PLAINTEXT listener on this port"
    )
    start.add_argument(
        "--sasl-user",
        action="append",
        metavar="NAME:PASSWORD",
        help=f"a SASL user (repeatable; SCRAM users are fixed when the data dir is first formatted); "
        f"default ${SASL_USERS_ENV} (NAME:PASSWORD,...), which keeps passwords off the process list",
    )
    start.add_argument(
        "--sasl-mechanisms",
        default=None,
        metavar="LIST",
        help=f"comma-separated SASL mechanisms (default {','.join(SASL_MECHANISMS)})",
    )
    start.add_argument(
        "--ssl-port", type=int, default=None, help="add an SSL listener on this port (a throwaway CA)"
    )
    start.add_argument(
        "--ssl-dir",
        default=None,
        help="where the throwaway CA, the broker's stores and a client certificate are kept "
        "(made once; default <data dir>/tls); clients trust its ca.pem",
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
    add_version(add("fetch", cmd_fetch, "download and cache the Kafka jars only"))
