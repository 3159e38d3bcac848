"""Generating the broker's ``server.properties`` (KRaft, single node) and ``log4j.properties``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from redline.errors import ConfigError, InputDataError

#: the node id of the single combined broker/controller
NODE_ID = 1


def server_properties(*, host: str, port: int, controller_port: int, log_dirs: Path) -> dict[str, str]:
    """The settings of a single-node KRaft broker that is also its own controller.

    Parameters
    ----------
    host : str
        Address both listeners bind to (and the one advertised to clients).
    port : int
        PLAINTEXT listener for clients.
    controller_port : int
        CONTROLLER listener for the KRaft quorum (must differ from ``port``).
    log_dirs : Path
        Where partitions, the metadata log and ``meta.properties`` live.
    """
    if port == controller_port:
        raise ConfigError(f"client port and controller port must differ, both are {port}")
    return {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.voters": f"{NODE_ID}@{host}:{controller_port}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(log_dirs),
        # one node: every internal topic has a single replica
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "min.insync.replicas": "1",
        "default.replication.factor": "1",
        # fewer internal partitions than the default 50: much faster first group join on small hosts
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.num.partitions": "10",
        "num.partitions": "1",
        "auto.create.topics.enable": "true",
        "delete.topic.enable": "true",
        # a single consumer (tests, a dev worker) should not wait 3 s for others to join
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "4",
        "log.retention.hours": "168",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }


def render_properties(values: Mapping[str, str], *, header: str = "") -> str:
    """Java ``.properties`` text for ``values`` (keys in the given order)."""
    lines = [f"# {line}" for line in header.splitlines()]
    for key, value in values.items():
        escaped = value.replace("\\", "\\\\").replace("\n", "\\n")
        lines.append(f"{key}={escaped}")
    return "\n".join(lines) + "\n"


def parse_properties(text: str) -> dict[str, str]:
    """Parse simple ``key=value`` Java properties (comments and blank lines skipped).

    Raises
    ------
    InputDataError
        A non-comment line has no ``=``.
    """
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        if "=" not in line:
            raise InputDataError(f"line {number} is not key=value: {raw[:80]!r}")
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip()
    return values


def client_port(values: Mapping[str, str]) -> int | None:
    """The PLAINTEXT port advertised in parsed ``server.properties``, or None."""
    for listener in values.get("advertised.listeners", "").split(","):
        name, _, address = listener.strip().partition("://")
        if name == "PLAINTEXT" and ":" in address:
            port = address.rsplit(":", 1)[1]
            return int(port) if port.isdigit() else None
    return None


def log4j_properties(level: str = "INFO") -> dict[str, str]:
    """log4j 1.x (reload4j) settings that send every broker log line to stdout.

    The launcher redirects stdout to the broker log file in the data dir.
    """
    return {
        "log4j.rootLogger": f"{level}, stdout",
        "log4j.appender.stdout": "org.apache.log4j.ConsoleAppender",
        "log4j.appender.stdout.layout": "org.apache.log4j.PatternLayout",
        "log4j.appender.stdout.layout.ConversionPattern": "[%d] %p %m (%c)%n",
        # the per-request and state-change chatter is useless for a local dev broker
        "log4j.logger.kafka.request.logger": "WARN",
        "log4j.logger.state.change.logger": "WARN",
        "log4j.logger.kafka.controller": "INFO",
        "log4j.logger.org.apache.kafka.clients": "WARN",
    }
