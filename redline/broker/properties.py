"""Generating the broker's ``server.properties`` (KRaft, single node) and its logging configuration.

Kafka 3.9 logs through log4j 1 (reload4j, ``log4j.properties``), Kafka 4.x through log4j2
(``log4j2.properties``, the properties syntax: it needs no YAML parser on the class path).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from redline.broker.security import BrokerSasl, BrokerTls
from redline.errors import ConfigError, InputDataError

#: the node id of the single combined broker/controller
NODE_ID = 1

_SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
_PLAIN_LOGIN = "org.apache.kafka.common.security.plain.PlainLoginModule required"


def server_properties(
    *,
    host: str,
    port: int,
    controller_port: int,
    log_dirs: Path,
    sasl: BrokerSasl | None = None,
    tls: BrokerTls | None = None,
) -> dict[str, str]:
    """The settings of a single-node KRaft broker that is also its own controller.

    Parameters
    ----------
    host : str
        Address every listener binds to (and the one advertised to clients).
    port : int
        PLAINTEXT listener for clients.
    controller_port : int
        CONTROLLER listener for the KRaft quorum (must differ from every client port).
    log_dirs : Path
        Where partitions, the metadata log and ``meta.properties`` live.
    sasl, tls : optional
        Add a SASL_PLAINTEXT and an SSL listener on their own ports (see :func:`listener_properties`).
        The controller and inter-broker listeners stay PLAINTEXT.
    """
    client = {"PLAINTEXT": port}
    if sasl is not None:
        client["SASL_PLAINTEXT"] = sasl.port
    if tls is not None:
        client["SSL"] = tls.port
    if controller_port in client.values():
        raise ConfigError(f"client ports and the controller port must differ, both are {controller_port}")
    advertised = ",".join(f"{name}://{host}:{number}" for name, number in client.items())
    protocols = ",".join(f"{name}:{name}" for name in client)
    return {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.voters": f"{NODE_ID}@{host}:{controller_port}",
        "listeners": f"{advertised},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": advertised,
        "listener.security.protocol.map": f"{protocols},CONTROLLER:PLAINTEXT",
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
        # each partition's offset and time index is a sparse file of this size, mapped into memory; the
        # first append's page fault reads ahead (zero-fills) up to the disk's read_ahead_kb of it (8 MiB
        # on this machine), and on a fresh topic's partitions that took the broker's request threads
        # ~0.5 s of kernel time (perf: filemap_fault -> ext4_mpage_readpages -> memset) while the stream
        # waited (the default 10 MiB; 1 MiB still holds an index entry per 4 KiB of a 64 MiB segment
        # five times over, and a full index only rolls the segment)
        "log.index.size.max.bytes": str(1024 * 1024),
        **listener_properties(sasl=sasl, tls=tls),
    }


def listener_properties(*, sasl: BrokerSasl | None, tls: BrokerTls | None) -> dict[str, str]:
    """The per-listener settings of the SASL_PLAINTEXT and SSL listeners (empty without them).

    SCRAM users are not here: their credentials are written into the metadata log when the storage
    is formatted (``--add-scram``). PLAIN users are, in the listener's JAAS configuration: the file
    holds passwords, so :class:`~redline.broker.broker.LocalKafkaBroker` writes it readable by its
    owner only.
    """
    values: dict[str, str] = {}
    if sasl is not None:
        prefix = "listener.name.sasl_plaintext."
        values[f"{prefix}sasl.enabled.mechanisms"] = ",".join(sasl.mechanisms)
        for mechanism in sasl.scram_mechanisms:
            values[f"{prefix}{mechanism.lower()}.sasl.jaas.config"] = _SCRAM_LOGIN
        if "PLAIN" in sasl.mechanisms:
            users = " ".join(f'user_{user.name}="{user.password}"' for user in sasl.users)
            values[f"{prefix}plain.sasl.jaas.config"] = f"{_PLAIN_LOGIN} {users};"
    if tls is not None:
        prefix = "listener.name.ssl."
        values[f"{prefix}ssl.keystore.type"] = "PKCS12"
        values[f"{prefix}ssl.keystore.location"] = str(tls.keystore)
        values[f"{prefix}ssl.keystore.password"] = tls.keystore_password
        values[f"{prefix}ssl.key.password"] = tls.keystore_password
        if tls.truststore is not None and tls.truststore_password is not None:
            values[f"{prefix}ssl.truststore.type"] = "PKCS12"
            values[f"{prefix}ssl.truststore.location"] = str(tls.truststore)
            values[f"{prefix}ssl.truststore.password"] = tls.truststore_password
        values[f"{prefix}ssl.client.auth"] = str(tls.client_auth)
    return values


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


#: loggers whose chatter is useless for a local dev broker, and their level
_QUIET_LOGGERS = (
    ("kafka.request.logger", "WARN"),
    ("state.change.logger", "WARN"),
    ("kafka.controller", "INFO"),
    ("org.apache.kafka.clients", "WARN"),
)
#: one line per event; the ERROR/FATAL level word stands alone, as ``last_log_line`` looks for it
_PATTERN = "[%d] %p %m (%c)%n"


def logging_properties(*, log4j2: bool, level: str = "INFO") -> dict[str, str]:
    """The broker's logging configuration: log4j2 (Kafka 4.x) or log4j 1 (Kafka 3.9) syntax."""
    return log4j2_properties(level) if log4j2 else log4j_properties(level)


def log4j2_properties(level: str = "INFO") -> dict[str, str]:
    """log4j2 settings (properties syntax) that send every broker log line to stdout.

    The launcher redirects stdout to the broker log file in the data dir.
    """
    values = {
        "status": "warn",
        "shutdownHook": "disable",  # Kafka shuts down on SIGTERM itself; no warning from log4j2
        "appender.stdout.type": "Console",
        "appender.stdout.name": "STDOUT",
        "appender.stdout.layout.type": "PatternLayout",
        "appender.stdout.layout.pattern": _PATTERN,
        "rootLogger.level": level,
        "rootLogger.appenderRef.stdout.ref": "STDOUT",
    }
    for number, (name, logger_level) in enumerate(_QUIET_LOGGERS):
        values[f"logger.quiet{number}.name"] = name
        values[f"logger.quiet{number}.level"] = logger_level
    return values


def log4j_properties(level: str = "INFO") -> dict[str, str]:
    """log4j 1.x (reload4j) settings that send every broker log line to stdout.

    The launcher redirects stdout to the broker log file in the data dir.
    """
    return {
        "log4j.rootLogger": f"{level}, stdout",
        "log4j.appender.stdout": "org.apache.log4j.ConsoleAppender",
        "log4j.appender.stdout.layout": "org.apache.log4j.PatternLayout",
        "log4j.appender.stdout.layout.ConversionPattern": _PATTERN,
        **{f"log4j.logger.{name}": logger_level for name, logger_level in _QUIET_LOGGERS},
    }
