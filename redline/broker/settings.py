"""The Kafka versions redline runs and the frozen settings of one local broker.

Kept free of pydantic on purpose: ``redline kafka`` builds its flags from these constants at every
CLI start (``tests/broker/test_broker_settings.py`` checks the import stays light).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from redline.broker.security import BrokerSasl, BrokerTls
from redline.errors import ConfigError

#: Apache Kafka release the local broker runs by default: the newest 4.x on Maven Central that
#: faust-streaming 0.15 / aiokafka 0.14 and Debian's kcat pass the integration suite against.
KAFKA_VERSION = "4.4.0"
#: the 3.9 release that stays selectable (``--kafka-version`` / ``$REDLINE_KAFKA_VERSION``); the
#: last line with log4j 1 (reload4j) and with every old protocol version (KIP-896 removed some in 4.0)
KAFKA_3_VERSION = "3.9.1"
#: the releases CI runs the integration suite against
TESTED_KAFKA_VERSIONS = (KAFKA_3_VERSION, KAFKA_VERSION)
#: Scala build of the broker artifact (``org.apache.kafka:kafka_<scala>``).
SCALA_VERSION = "2.13"
#: slf4j 1.7 binding to reload4j, as in Kafka 3.9's own ``libs/``.
SLF4J_VERSION = "1.7.36"
#: log4j2 release of Kafka 4's logging (``log4j-core`` plus the slf4j 1.7 binding ``log4j-slf4j-impl``).
LOG4J2_VERSION = "2.24.3"
#: the environment variable that picks the Kafka release
KAFKA_VERSION_ENV = "REDLINE_KAFKA_VERSION"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9092
DEFAULT_HEAP = "512m"
#: the JVM's just-in-time compilers: ``c1`` (the quick one alone, ``-XX:TieredStopAtLevel=1``) or
#: ``tiered`` (the JVM's default: C1 first, then the optimising C2 for hot code)
JIT_MODES = ("c1", "tiered")
#: C1 alone. bench_stream with the broker on the worker's 2 cores, interleaved against ``tiered``: the
#: broker's CPU during a 2,000-text burst with the defaults 10.9 / 9.6 -> 4.3 / 4.2 / 5.6 s at 150
#: labels and 12.9 -> 6.5 s at 1000, the defaults 101 / 114 -> 132 / 129 / 118 texts/s at 150 labels and
#: 70 -> 77 at 1000; classify only the same within the noise (197 / 169 against 182 / 188 / 177). C2 was
#: still compiling the broker's paths minutes after its start (its thread the broker's busiest, 0.25-0.4
#: of a core during the bursts) and took those cores from the embedder. A fresh start 8.9 / 8.4 -> 6.6 /
#: 6.4 s. The JVM with C1 alone runs hot code slower: a broker with cores of its own wants ``tiered``.
#: Again on a faster 2-core machine, the broker warmed by bench_stream first (20,000 records and a
#: 1,000-text burst), 150 labels, two interleaved pairs: the broker's CPU per burst with the judge 1.0 /
#: 0.9 / 0.9 / 0.9 s (c1) against 2.1 / 1.4 / 1.5 / 1.3 s (tiered), ratio 0.81 / 0.80 / 0.88 / 0.80
#: against 0.76 / 0.79 / 0.84 / 0.79
DEFAULT_JIT = "c1"

_HEAP_RE = re.compile(r"^[1-9][0-9]*[kKmMgG]$")
_VERSION_RE = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")


def kafka_release(version: str) -> tuple[int, int, int]:
    """``"4.4.0"`` -> ``(4, 4, 0)``.

    Raises
    ------
    ConfigError
        Not a ``major.minor.patch`` release, or outside the lines redline supports (3.9 and 4.x).
    """
    match = _VERSION_RE.match(version.strip())
    if match is None:
        raise ConfigError(
            f"Kafka version must look like {KAFKA_VERSION} or {KAFKA_3_VERSION}, got {version!r}"
        )
    major, minor, patch = (int(part) for part in match.groups())
    if not (3, 9) <= (major, minor) < (5, 0):
        raise ConfigError(
            f"Kafka {version} is not supported: redline runs the 3.9 line and 4.x "
            f"(default {KAFKA_VERSION}, also tested: {KAFKA_3_VERSION})"
        )
    return major, minor, patch


def uses_log4j2(version: str) -> bool:
    """True for Kafka 4.x, which logs through log4j2; 3.9 uses log4j 1 (reload4j)."""
    return kafka_release(version)[0] >= 4


def min_java_major(version: str) -> int:
    """The oldest Java that runs this Kafka broker: 17 for 4.x (KIP-750), 11 for 3.9."""
    return 17 if kafka_release(version)[0] >= 4 else 11


def default_kafka_version(environ: Mapping[str, str] | None = None) -> str:
    """``$REDLINE_KAFKA_VERSION`` if set, else :data:`KAFKA_VERSION`."""
    env = os.environ if environ is None else environ
    return env.get(KAFKA_VERSION_ENV, "").strip() or KAFKA_VERSION


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where downloaded artifacts are cached, outside any work tree.

    ``$REDLINE_CACHE_DIR`` if set, else ``~/.cache/redline`` (the cache every redline part shares).
    """
    env = os.environ if environ is None else environ
    if env.get("REDLINE_CACHE_DIR"):
        return Path(env["REDLINE_CACHE_DIR"]).expanduser().absolute()
    return Path.home() / ".cache" / "redline"


def default_data_dir(cwd: Path | None = None) -> Path:
    """The default broker data folder: ``.redline/kafka`` under the current directory."""
    return (cwd or Path.cwd()).absolute() / ".redline" / "kafka"


@dataclass(frozen=True)
class BrokerSettings:
    """Everything that defines one local single-node KRaft broker.

    Parameters
    ----------
    data_dir : Path
        Folder holding ``server.properties``, the Kafka log dirs, the broker log and the pid file.
    port : int
        PLAINTEXT port clients connect to on ``host``.
    host : str
        Address every listener binds to; loopback only.
    cache_dir : Path
        Root of the artifact cache; the jars go to ``<cache_dir>/kafka-<version>/libs``.
    heap : str
        JVM maximum heap (``-Xmx``), e.g. ``"512m"``.
    jit : {"c1", "tiered"}
        The JVM's just-in-time compilers (:data:`DEFAULT_JIT`): ``c1`` compiles quickly and leaves the
        cores to the workers that share the machine; ``tiered`` adds C2, which pays off on a broker
        with cores of its own and a long life.
    start_timeout_s, stop_timeout_s : float
        How long ``start`` waits for the broker to answer, and ``stop`` for it to exit after
        SIGTERM before it sends SIGKILL.
    kafka_version : str
        Kafka release: the 3.9 line or 4.x (default ``$REDLINE_KAFKA_VERSION``, else
        :data:`KAFKA_VERSION`); :data:`TESTED_KAFKA_VERSIONS` are the tested ones.
    sasl : BrokerSasl, optional
        Adds a SASL_PLAINTEXT listener (SCRAM-SHA-256/512 and PLAIN users) on its own port.
    tls : BrokerTls, optional
        Adds an SSL listener on its own port.

    The PLAINTEXT listener always stays: the controller, the readiness probe and ``status`` use it.
    """

    data_dir: Path
    port: int = DEFAULT_PORT
    host: str = DEFAULT_HOST
    cache_dir: Path = field(default_factory=default_cache_dir)
    heap: str = DEFAULT_HEAP
    jit: str = DEFAULT_JIT
    start_timeout_s: float = 120.0
    stop_timeout_s: float = 60.0
    kafka_version: str = field(default_factory=default_kafka_version)
    sasl: BrokerSasl | None = None
    tls: BrokerTls | None = None

    def __post_init__(self) -> None:
        if not 1 <= int(self.port) <= 65535:
            raise ConfigError(f"Kafka port must be between 1 and 65535, got {self.port}")
        if not _HEAP_RE.match(self.heap):
            raise ConfigError(f"JVM heap must look like 512m or 1g, got {self.heap!r}")
        if self.jit not in JIT_MODES:
            raise ConfigError(f"JVM jit must be one of {', '.join(JIT_MODES)}, got {self.jit!r}")
        if self.start_timeout_s <= 0 or self.stop_timeout_s <= 0:
            raise ConfigError("Kafka start/stop timeouts must be positive")
        kafka_release(self.kafka_version)
        object.__setattr__(self, "kafka_version", self.kafka_version.strip())
        ports = {"--port": self.port}
        if self.sasl is not None:
            ports["--sasl-port"] = self.sasl.port
        if self.tls is not None:
            ports["--ssl-port"] = self.tls.port
        if len(set(ports.values())) != len(ports):
            raise ConfigError(
                "each Kafka listener needs its own port, got "
                + ", ".join(f"{flag} {port}" for flag, port in ports.items())
            )
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().absolute())
        object.__setattr__(self, "cache_dir", Path(self.cache_dir).expanduser().absolute())

    @property
    def bootstrap(self) -> str:
        """The ``host:port`` of the PLAINTEXT listener clients pass as bootstrap servers."""
        return f"{self.host}:{self.port}"

    @property
    def listeners(self) -> dict[str, str]:
        """Security protocol -> ``host:port`` of every client listener (PLAINTEXT first)."""
        found = {"PLAINTEXT": self.bootstrap}
        if self.sasl is not None:
            found["SASL_PLAINTEXT"] = f"{self.host}:{self.sasl.port}"
        if self.tls is not None:
            found["SSL"] = f"{self.host}:{self.tls.port}"
        return found

    @property
    def uses_log4j2(self) -> bool:
        """Whether this Kafka release logs through log4j2 (4.x) rather than log4j 1 (3.9)."""
        return uses_log4j2(self.kafka_version)

    @property
    def install_dir(self) -> Path:
        """Cache folder of this Kafka version (``libs/`` and the throw-away pom inside)."""
        return self.cache_dir / f"kafka-{self.kafka_version}"

    @property
    def properties_path(self) -> Path:
        """The generated ``server.properties``."""
        return self.data_dir / "server.properties"

    @property
    def log4j_path(self) -> Path:
        """The generated logging configuration: ``log4j2.properties`` (4.x) or ``log4j.properties`` (3.9)."""
        return self.data_dir / ("log4j2.properties" if self.uses_log4j2 else "log4j.properties")

    @property
    def jit_jvm_flags(self) -> list[str]:
        """The JVM options of :attr:`jit`."""
        return ["-XX:TieredStopAtLevel=1"] if self.jit == "c1" else []

    @property
    def logging_jvm_flag(self) -> str:
        """The JVM system property that points the broker (and its tools) at :attr:`log4j_path`."""
        if self.uses_log4j2:
            return f"-Dlog4j2.configurationFile={self.log4j_path}"
        return f"-Dlog4j.configuration={self.log4j_path.as_uri()}"

    @property
    def log_dirs(self) -> Path:
        """Kafka's ``log.dirs``: partitions, the metadata log and ``meta.properties``."""
        return self.data_dir / "logs"

    @property
    def broker_log(self) -> Path:
        """The broker's stdout/stderr."""
        return self.data_dir / "broker.log"

    @property
    def pid_path(self) -> Path:
        """The pid file written by ``start`` and removed by ``stop``."""
        return self.data_dir / "broker.pid"

    @property
    def cluster_id_path(self) -> Path:
        """The cluster id this data dir was formatted with."""
        return self.data_dir / "cluster.id"

    @property
    def format_record_path(self) -> Path:
        """What the storage was formatted with: the Kafka release and a digest of the SCRAM users."""
        return self.data_dir / "format.json"
