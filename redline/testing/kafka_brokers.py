"""The Kafka brokers of a test session: which release they run, and one with secured listeners."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from redline.broker.certs import make_test_certificates
from redline.broker.ports import find_free_port
from redline.broker.security import BrokerSasl, BrokerTls, SaslUser
from redline.broker.settings import KAFKA_VERSION, BrokerSettings

#: the environment variable that picks the Kafka release of the test brokers
TEST_KAFKA_VERSION_ENV = "REDLINE_TEST_KAFKA_VERSION"


def session_kafka_version(environ: Mapping[str, str] | None = None) -> str:
    """The Kafka release test brokers run: ``$REDLINE_TEST_KAFKA_VERSION``, else :data:`KAFKA_VERSION`."""
    env = os.environ if environ is None else environ
    return env.get(TEST_KAFKA_VERSION_ENV, "").strip() or KAFKA_VERSION


@dataclass(frozen=True)
class SecuredKafka:
    """Where a secured test broker listens and how clients get in.

    Parameters
    ----------
    bootstrap, sasl_bootstrap, ssl_bootstrap : str
        ``host:port`` of its PLAINTEXT, SASL_PLAINTEXT and SSL listeners.
    user, password : str
        A user of SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN.
    tls_dir : Path
        The throwaway CA (``ca.pem``), a client certificate it signed (``client.pem``,
        ``client.key``) and a CA the broker's certificate does not chain to (``stranger-ca.pem``).
    """

    bootstrap: str
    sasl_bootstrap: str
    ssl_bootstrap: str
    user: str
    password: str = field(repr=False)
    tls_dir: Path


def secured_broker_settings(
    root: Path, kafka_version: str, *, start_timeout_s: float = 240.0
) -> tuple[BrokerSettings, SecuredKafka]:
    """Settings of a broker with all three listeners on free ports, its data and certificates under ``root``.

    Makes the throwaway CA with ``openssl`` and ``keytool`` (:func:`make_test_certificates`).
    """
    certs = make_test_certificates(root / "tls", client=True, stranger=True)
    user = SaslUser(name="alice", password="alice-secret=1")
    ports: list[int] = []
    while len(ports) < 3:
        ports.append(find_free_port(exclude=frozenset(ports)))
    port, sasl_port, ssl_port = ports
    settings = BrokerSettings(
        data_dir=root / "data",
        port=port,
        start_timeout_s=start_timeout_s,
        kafka_version=kafka_version,
        sasl=BrokerSasl(port=sasl_port, users=(user,)),
        tls=BrokerTls(
            port=ssl_port,
            keystore=certs.keystore,
            keystore_password=certs.store_password,
            truststore=certs.truststore,
            truststore_password=certs.store_password,
        ),
    )
    secured = SecuredKafka(
        bootstrap=settings.bootstrap,
        sasl_bootstrap=settings.listeners["SASL_PLAINTEXT"],
        ssl_bootstrap=settings.listeners["SSL"],
        user=user.name,
        password=user.password,
        tls_dir=certs.directory,
    )
    return settings, secured
