"""A real local Apache Kafka broker (KRaft, single node) built from Maven Central artifacts.

The pieces, one per module:

- :mod:`~redline.broker.settings` -- the Kafka releases (default 4.x, the 3.9 line selectable) and
  the frozen :class:`BrokerSettings`;
- :mod:`~redline.broker.security` -- the optional SASL_PLAINTEXT and SSL listeners;
- :mod:`~redline.broker.certs` -- a throwaway CA and stores for the SSL listener (openssl, keytool);
- :mod:`~redline.broker.jars` -- resolving and caching the broker's jars (and its logging backend) with Maven;
- :mod:`~redline.broker.properties` -- ``server.properties`` and the log4j / log4j2 configuration;
- :mod:`~redline.broker.storage` -- formatting the KRaft storage (SCRAM users included) and
  refusing data dirs that are not ours or not for this start;
- :mod:`~redline.broker.ports` -- free-port checks;
- :mod:`~redline.broker.probe` -- a raw Kafka Metadata request, the readiness check;
- :mod:`~redline.broker.pidfile` -- the pid file and the "is this really our broker" check;
- :mod:`~redline.broker.broker` -- :class:`LocalKafkaBroker`, which ties them together.
"""

from __future__ import annotations

from redline.broker.broker import BrokerStatus, LocalKafkaBroker
from redline.broker.jars import KafkaJars, resolve_kafka_jars
from redline.broker.security import BrokerSasl, BrokerTls, SaslUser
from redline.broker.settings import KAFKA_3_VERSION, KAFKA_VERSION, TESTED_KAFKA_VERSIONS, BrokerSettings

__all__ = [
    "KAFKA_3_VERSION",
    "KAFKA_VERSION",
    "TESTED_KAFKA_VERSIONS",
    "BrokerSasl",
    "BrokerSettings",
    "BrokerStatus",
    "BrokerTls",
    "KafkaJars",
    "LocalKafkaBroker",
    "SaslUser",
    "resolve_kafka_jars",
]
