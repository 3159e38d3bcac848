"""The pinned Kafka version and the frozen settings of one local broker."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from redline.errors import ConfigError

#: Apache Kafka release the local broker runs. 3.9.x is the last line that still accepts every
#: protocol version faust-streaming 0.15 / aiokafka 0.14 and Debian's kcat may negotiate;
#: Kafka 4.0 removed the old ones (KIP-896).
KAFKA_VERSION = "3.9.1"
#: Scala build of the broker artifact (``org.apache.kafka:kafka_<scala>``).
SCALA_VERSION = "2.13"
#: slf4j binding shipped in Kafka 3.9's own ``libs/`` (so the broker writes logs).
SLF4J_VERSION = "1.7.36"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9092
DEFAULT_HEAP = "512m"

_HEAP_RE = re.compile(r"^[1-9][0-9]*[kKmMgG]$")


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
        Address both listeners bind to; loopback only.
    cache_dir : Path
        Root of the artifact cache; the jars go to ``<cache_dir>/kafka-<version>/libs``.
    heap : str
        JVM maximum heap (``-Xmx``), e.g. ``"512m"``.
    start_timeout_s, stop_timeout_s : float
        How long ``start`` waits for the broker to answer, and ``stop`` for it to exit after
        SIGTERM before it sends SIGKILL.
    kafka_version : str
        Kafka release; only the pinned one is tested.
    """

    data_dir: Path
    port: int = DEFAULT_PORT
    host: str = DEFAULT_HOST
    cache_dir: Path = field(default_factory=default_cache_dir)
    heap: str = DEFAULT_HEAP
    start_timeout_s: float = 120.0
    stop_timeout_s: float = 60.0
    kafka_version: str = KAFKA_VERSION

    def __post_init__(self) -> None:
        if not 1 <= int(self.port) <= 65535:
            raise ConfigError(f"Kafka port must be between 1 and 65535, got {self.port}")
        if not _HEAP_RE.match(self.heap):
            raise ConfigError(f"JVM heap must look like 512m or 1g, got {self.heap!r}")
        if self.start_timeout_s <= 0 or self.stop_timeout_s <= 0:
            raise ConfigError("Kafka start/stop timeouts must be positive")
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().absolute())
        object.__setattr__(self, "cache_dir", Path(self.cache_dir).expanduser().absolute())

    @property
    def bootstrap(self) -> str:
        """The ``host:port`` clients pass as bootstrap servers."""
        return f"{self.host}:{self.port}"

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
        """The generated ``log4j.properties``."""
        return self.data_dir / "log4j.properties"

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
