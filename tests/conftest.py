"""Shared fixtures: one real Kafka broker for the whole integration session.

The broker is started by the same code as ``redline kafka start`` (:class:`LocalKafkaBroker`),
on a free port in a temporary data dir, once per test session, and stopped at the end.
Set ``REDLINE_TEST_KAFKA_BOOTSTRAP=host:port`` to run the suite against a broker you started
yourself (e.g. the docker-compose one) instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from redline.broker import BrokerSettings, LocalKafkaBroker
from redline.broker.ports import find_free_port


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
    )
    broker = LocalKafkaBroker(settings, log=lambda _line: None, die_with_parent=True)
    bootstrap = broker.start()
    try:
        yield bootstrap
    finally:
        broker.stop()
