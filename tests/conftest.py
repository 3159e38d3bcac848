"""Shared fixtures: real Kafka brokers that live for the whole integration session.

The brokers are started by the same code as ``redline kafka start`` (:class:`LocalKafkaBroker`),
on free ports in temporary data dirs, once per test session, and stopped at the end.

- ``REDLINE_TEST_KAFKA_VERSION=3.9.1`` runs them on another Kafka release than the default
  (:data:`redline.broker.KAFKA_VERSION`); CI runs the suite on each of ``TESTED_KAFKA_VERSIONS``.
- ``REDLINE_TEST_KAFKA_BOOTSTRAP=host:port`` runs the plain-broker tests against a broker you
  started yourself (e.g. the docker-compose one) instead; the secured broker is always local.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from redline.broker import BrokerSettings, LocalKafkaBroker
from redline.broker.ports import find_free_port
from redline.testing.kafka_brokers import SecuredKafka, secured_broker_settings, session_kafka_version


def pytest_report_header() -> str:
    external = os.environ.get("REDLINE_TEST_KAFKA_BOOTSTRAP")
    where = f", plain-broker tests on {external}" if external else ""
    return f"kafka: local brokers run Apache Kafka {session_kafka_version()}{where}"


def _start(settings: BrokerSettings) -> LocalKafkaBroker:
    broker = LocalKafkaBroker(settings, log=lambda _line: None, die_with_parent=True)
    broker.start()
    return broker


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a real Kafka broker that lives for the whole test session."""
    external = os.environ.get("REDLINE_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    settings = BrokerSettings(
        data_dir=tmp_path_factory.mktemp("kafka"),
        port=find_free_port(),
        start_timeout_s=240.0,  # a loaded 2-core CI machine can take a while
        kafka_version=session_kafka_version(),
    )
    broker = _start(settings)
    try:
        yield settings.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def secured_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredKafka]:
    """A broker with SASL_PLAINTEXT (SCRAM-SHA-256/512, PLAIN) and SSL listeners next to PLAINTEXT.

    One broker serves both secured listeners: one start (~10 s) instead of one per protocol.
    Skipped when ``openssl`` or ``keytool`` (the throwaway CA's tools) are missing.
    """
    missing = [tool for tool in ("openssl", "keytool") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed: no throwaway CA for the SSL listener")
    settings, secured = secured_broker_settings(
        tmp_path_factory.mktemp("kafka-secured"), session_kafka_version()
    )
    broker = _start(settings)
    try:
        yield secured
    finally:
        broker.stop()
