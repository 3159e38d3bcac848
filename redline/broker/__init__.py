"""A real local Apache Kafka broker (KRaft, single node) built from Maven Central artifacts.

The pieces, one per module:

- :mod:`~redline.broker.settings` -- the pinned Kafka version and the frozen :class:`BrokerSettings`;
- :mod:`~redline.broker.jars` -- resolving and caching the broker's jars with Maven;
- :mod:`~redline.broker.properties` -- ``server.properties`` and ``log4j.properties``;
- :mod:`~redline.broker.storage` -- formatting the KRaft storage and checking ``meta.properties``;
- :mod:`~redline.broker.ports` -- free-port checks;
- :mod:`~redline.broker.probe` -- a raw Kafka Metadata request, the readiness check;
- :mod:`~redline.broker.pidfile` -- the pid file and the "is this really our broker" check;
- :mod:`~redline.broker.broker` -- :class:`LocalKafkaBroker`, which ties them together.
"""

from __future__ import annotations

from redline.broker.broker import BrokerStatus, LocalKafkaBroker
from redline.broker.jars import KafkaJars, resolve_kafka_jars
from redline.broker.settings import KAFKA_VERSION, BrokerSettings

__all__ = [
    "KAFKA_VERSION",
    "BrokerSettings",
    "BrokerStatus",
    "KafkaJars",
    "LocalKafkaBroker",
    "resolve_kafka_jars",
]
