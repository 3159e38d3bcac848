"""A Faust agent on the real broker: topic A -> agent -> topic B, in the clear and over SASL and TLS.

The worker runs as its own process (``python -m faust ... worker``) exactly as a user would run
one, with its own web port and a unique app id, so nothing is shared with other tests. Its
``faust.App`` gets ``KafkaSecurity.from_env().faust_kwargs()``, the settings read from the ``REDLINE_KAFKA_*``
variables the test sets; the test's own aiokafka clients get ``aiokafka_kwargs()`` of the same settings.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from redline.broker.ports import find_free_port
from redline.streams.kafka_security import KafkaSecurity
from redline.testing.kafka_brokers import SecuredKafka

pytestmark = pytest.mark.integration

#: a cold Faust worker on a busy 2-core machine needs a while to join its group
TIMEOUT_S = 150.0

APP = textwrap.dedent(
    """
    import os

    import faust

    from redline.streams.kafka_security import KafkaSecurity

    app = faust.App(
        os.environ["RT_APP_ID"],
        broker="kafka://" + os.environ["RT_BOOTSTRAP"],
        store="memory://",
        topic_partitions=1,
        topic_replication_factor=1,
        web_port=int(os.environ["RT_WEB_PORT"]),
        web_host="127.0.0.1",
        **KafkaSecurity.from_env().faust_kwargs(),
    )
    source = app.topic(os.environ["RT_SOURCE"], value_serializer="raw", key_serializer="raw")
    sink = app.topic(os.environ["RT_SINK"], value_serializer="raw", key_serializer="raw")


    @app.agent(source)
    async def shout(stream):
        async for event in stream.events():
            await sink.send(key=event.key, value=event.value.upper() + b"!")
    """
)


async def _consume(
    bootstrap: str,
    topic: str,
    count: int,
    worker: subprocess.Popen[bytes],
    log: Path,
    security: KafkaSecurity,
) -> list:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", **security.aiokafka_kwargs()
    )
    await consumer.start()
    records: list = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT_S
        while len(records) < count:
            if worker.poll() is not None:
                pytest.fail(f"faust worker exited with {worker.returncode}:\n{log.read_text()[-3000:]}")
            if loop.time() > deadline:
                pytest.fail(f"no output from the agent in {TIMEOUT_S} s:\n{log.read_text()[-3000:]}")
            batch = await consumer.getmany(timeout_ms=1000)
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


def _client_settings(
    listener: str, request: pytest.FixtureRequest
) -> tuple[str, KafkaSecurity, dict[str, str]]:
    """Bootstrap, client settings and their ``REDLINE_KAFKA_*`` variables for one listener."""
    if listener == "PLAINTEXT":
        return request.getfixturevalue("kafka_bootstrap"), KafkaSecurity(), {}
    secured: SecuredKafka = request.getfixturevalue("secured_kafka")
    if listener == "SASL_PLAINTEXT":
        env = {
            "REDLINE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "REDLINE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
            "REDLINE_KAFKA_SASL_USERNAME": secured.user,
            "REDLINE_KAFKA_SASL_PASSWORD": secured.password,
        }
        bootstrap = secured.sasl_bootstrap
    else:
        env = {
            "REDLINE_KAFKA_SECURITY_PROTOCOL": "SSL",
            "REDLINE_KAFKA_SSL_CAFILE": str(secured.tls_dir / "ca.pem"),
        }
        bootstrap = secured.ssl_bootstrap
    return bootstrap, KafkaSecurity.from_env(env), env


@pytest.mark.parametrize("listener", ["PLAINTEXT", "SASL_PLAINTEXT", "SSL"])
async def test_faust_agent_round_trip(listener: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    kafka_bootstrap, security, security_env = _client_settings(listener, request)
    run = uuid.uuid4().hex[:8]
    source, sink = f"faust-a-{run}", f"faust-b-{run}"
    (tmp_path / "roundtrip_app.py").write_text(APP)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("REDLINE_KAFKA_")},
        **security_env,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
        "RT_APP_ID": f"redline-roundtrip-{run}",
        "RT_BOOTSTRAP": kafka_bootstrap,
        "RT_SOURCE": source,
        "RT_SINK": sink,
        "RT_WEB_PORT": str(find_free_port()),
    }
    sent = [(f"k{i}".encode(), f"event {i}".encode()) for i in range(10)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, **security.aiokafka_kwargs())
    await producer.start()
    try:  # produced before the worker starts: the agent must read from the beginning
        for key, value in sent[:5]:
            await producer.send_and_wait(source, value=value, key=key)
    finally:
        await producer.stop()

    log = tmp_path / "worker.log"
    with log.open("wb") as log_file:
        worker = subprocess.Popen(
            [sys.executable, "-m", "faust", "-A", "roundtrip_app", "worker", "-l", "info",
             "--web-port", env["RT_WEB_PORT"], "--web-host", "127.0.0.1"],
            cwd=tmp_path, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, **security.aiokafka_kwargs())
        await producer.start()
        try:  # and these while it runs
            for key, value in sent[5:]:
                await producer.send_and_wait(source, value=value, key=key)
        finally:
            await producer.stop()
        got = await _consume(kafka_bootstrap, sink, len(sent), worker, log, security)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    assert [(r.key, r.value) for r in got] == [(k, v.upper() + b"!") for k, v in sent]
