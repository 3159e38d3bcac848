"""Real clients against the real session broker: aiokafka both ways, and kcat as an outsider."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

pytestmark = pytest.mark.integration

TIMEOUT_S = 90.0


def _topic(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


async def _produce(bootstrap: str, topic: str, pairs: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in pairs:
            await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()


async def _consume(
    consumer: AIOKafkaConsumer, count: int, *, commit: bool = False
) -> list[ConsumerRecord[bytes, bytes]]:
    records: list[ConsumerRecord[bytes, bytes]] = []

    async def loop() -> None:
        while len(records) < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=count - len(records))
            for part in batch.values():
                records.extend(part)

    await asyncio.wait_for(loop(), TIMEOUT_S)
    if commit:
        await consumer.commit()
    return records


async def test_produce_then_consume_in_order(kafka_bootstrap: str) -> None:
    topic = _topic("roundtrip")
    sent = [(f"k{i}".encode(), f"value {i} ✓".encode()) for i in range(20)]
    await _produce(kafka_bootstrap, topic, sent)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        got = await _consume(consumer, len(sent))
    finally:
        await consumer.stop()
    assert [(r.key, r.value) for r in got] == sent
    assert [r.offset for r in got] == list(range(20))


async def test_consumer_group_resumes_from_its_committed_offset(kafka_bootstrap: str) -> None:
    topic, group = _topic("resume"), _topic("group")
    sent = [(b"k", f"m{i}".encode()) for i in range(10)]
    await _produce(kafka_bootstrap, topic, sent)

    def consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            max_poll_records=4,
        )

    first = consumer()
    await first.start()
    try:
        head = await _consume(first, 4, commit=True)
    finally:
        await first.stop()
    second = consumer()
    await second.start()
    try:
        tail = await _consume(second, 6)
    finally:
        await second.stop()
    assert [r.value for r in head + tail] == [v for _, v in sent]


def _kcat() -> str:
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if kcat is None:
        pytest.skip("kcat is not installed (apt-get install kcat)")
    return kcat


async def test_kcat_produces_and_aiokafka_consumes(kafka_bootstrap: str) -> None:
    kcat, topic = _kcat(), _topic("kcat-in")
    lines = [f"key{i}:from kcat {i}" for i in range(5)]
    subprocess.run(
        [kcat, "-b", kafka_bootstrap, "-P", "-t", topic, "-K", ":"],
        input="\n".join(lines) + "\n",
        text=True,
        check=True,
        timeout=TIMEOUT_S,
    )
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        got = await _consume(consumer, len(lines))
    finally:
        await consumer.stop()
    assert [f"{r.key.decode()}:{r.value.decode()}" for r in got if r.key and r.value] == lines


async def test_aiokafka_produces_and_kcat_consumes(kafka_bootstrap: str) -> None:
    kcat, topic = _kcat(), _topic("kcat-out")
    sent = [(f"k{i}".encode(), f"to kcat {i}".encode()) for i in range(5)]
    await _produce(kafka_bootstrap, topic, sent)
    done = subprocess.run(
        [kcat, "-b", kafka_bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k=%s\\n"],
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT_S,
    )
    assert done.stdout.splitlines() == [f"{k.decode()}={v.decode()}" for k, v in sent]


async def test_the_broker_runs_with_the_small_partition_index(kafka_bootstrap: str) -> None:
    # what server_properties asks for is what the running broker uses (and docker-compose's broker too,
    # under REDLINE_TEST_KAFKA_BOOTSTRAP): each new partition's index files are 1 MiB, not 10 MiB
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        broker = ConfigResource(ConfigResourceType.BROKER, str(cluster["brokers"][0]["node_id"]))
        [response] = await admin.describe_configs([broker])
    finally:
        await admin.close()
    configs = {c[0]: c[1] for c in response.resources[0][4]}
    assert configs["log.index.size.max.bytes"] == str(1024 * 1024)
