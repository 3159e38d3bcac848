"""Plain Kafka clients for redline topics: produce texts, collect results (demo, tests, scripts).

These use aiokafka directly (no Faust), the way any outside producer or consumer would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redline.errors import KafkaBrokerError
from redline.schemas import TextIn, encode
from redline.streams.kafka_security import KafkaSecurity


@dataclass
class Collected:
    """Records read per topic, in arrival order, with the time each arrived (``time.monotonic``)."""

    records: dict[str, list[Any]] = field(default_factory=dict)
    arrived: dict[str, list[float]] = field(default_factory=dict)

    def count(self, topic: str) -> int:
        """How many records of ``topic`` were read."""
        return len(self.records.get(topic, []))


def text_messages(texts: Iterable[TextIn]) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs for :class:`TextIn` records: key = id, value = JSON."""
    return [(t.id.encode("utf-8"), encode(t)) for t in texts]


async def produce(
    bootstrap: str,
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes | None]],
    *,
    pace_per_s: float | None = None,
    timeout_s: float = 60.0,
    security: KafkaSecurity | None = None,
) -> int:
    """Send (key, value) pairs to ``topic`` (acks=all); optionally at most ``pace_per_s`` per second.

    ``security``: SASL / TLS settings of the broker (None: PLAINTEXT)."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        request_timeout_ms=int(timeout_s * 1000),
        **(security.aiokafka_kwargs() if security is not None else {}),
    )
    try:
        await asyncio.wait_for(producer.start(), timeout_s)
    except Exception as exc:
        await producer.stop()
        raise KafkaBrokerError(f"cannot reach Kafka at {bootstrap}: {exc!r}") from None
    sent = 0
    started = time.monotonic()
    try:
        futures = []
        for key, value in messages:
            if pace_per_s:
                delay = started + sent / pace_per_s - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            futures.append(await producer.send(topic, value=value, key=key))
            sent += 1
        for fut in futures:
            await asyncio.wait_for(fut, timeout_s)
    finally:
        await producer.stop()
    return sent


async def collect(
    bootstrap: str,
    topics: Sequence[str],
    done: Callable[[Collected], bool],
    *,
    timeout_s: float = 300.0,
    on_record: Callable[[str, Any, Collected], None] | None = None,
    from_beginning: bool = True,
    security: KafkaSecurity | None = None,
) -> Collected:
    """Read ``topics`` until ``done(collected)`` is true or ``timeout_s`` passes.

    Each record is an aiokafka ``ConsumerRecord`` (``key``, ``value`` as bytes, ``partition``,
    ``offset``). No consumer group is used, so nothing is committed and other readers are unaffected.
    """
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        **(security.aiokafka_kwargs() if security is not None else {}),
    )
    try:
        await asyncio.wait_for(consumer.start(), 60.0)
    except Exception as exc:
        await consumer.stop()
        raise KafkaBrokerError(f"cannot reach Kafka at {bootstrap}: {exc!r}") from None
    got = Collected({t: [] for t in topics}, {t: [] for t in topics})
    deadline = time.monotonic() + timeout_s
    try:
        while not done(got) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            now = time.monotonic()
            for tp, records in batches.items():
                for record in records:
                    got.records[tp.topic].append(record)
                    got.arrived[tp.topic].append(now)
                    if on_record is not None:
                        on_record(tp.topic, record, got)
    finally:
        await consumer.stop()
    return got
