"""Drive one fault scenario through the real topics: send texts at a pace, watch every result, dead
letter and learned example arrive (with the time), until every id sent has an answer."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fault_report import Tally, tally

from redline.schemas import DeadLetter, ExampleRecord, LabelResult, TextIn, decode, encode
from redline.streams.clients import Collected, collect
from redline.streams.settings import TopicNames


@dataclass
class Watch:
    """What came back for the texts sent, with ``time.monotonic()`` arrival times."""

    topics: TopicNames
    sent: list[tuple[float, str]] = field(default_factory=list)
    results: list[tuple[float, LabelResult]] = field(default_factory=list)
    letters: list[tuple[float, DeadLetter]] = field(default_factory=list)
    learned: list[str] = field(default_factory=list)
    expected: int = 0
    on_result: Callable[[Watch], None] | None = None

    def on_record(self, topic: str, record: Any, _got: Collected) -> None:
        now = time.monotonic()
        if topic == self.topics.labels:
            self.results.append((now, decode(LabelResult, record.value)))
            if self.on_result is not None:
                self.on_result(self)
        elif topic == self.topics.deadletter:
            self.letters.append((now, decode(DeadLetter, record.value)))
        elif topic == self.topics.examples:
            example = decode(ExampleRecord, record.value)
            self.learned.append(example.id.removeprefix("judged:"))

    def answered(self) -> set[str]:
        """The ids with a result or a dead letter."""
        return {r.id for _, r in self.results} | {d.id for _, d in self.letters if d.id is not None}

    def done(self, _got: Collected | None = None) -> bool:
        """Every id sent (all ``expected`` of them) has an answer."""
        ids = {i for _, i in self.sent}
        return len(ids) >= self.expected and ids <= self.answered()

    def tally(self) -> Tally:
        return tally(
            [i for _, i in self.sent], [r.id for _, r in self.results], [d.id for _, d in self.letters]
        )

    def longest_gap_after(self, start: float) -> float:
        """The longest time without a result after ``start`` (the stall a fault caused)."""
        times = [start, *sorted(t for t, _ in self.results if t >= start)]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


async def send(
    bootstrap: str, watch: Watch, texts: Sequence[TextIn], pace_per_s: float | None = None
) -> None:
    """Produce ``texts`` to the texts topic (acks=all), at most ``pace_per_s`` a second, noting each id
    in ``watch.sent`` when it is handed to the producer."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=120_000)
    await producer.start()
    started = time.monotonic()
    try:
        futures = []
        for n, text in enumerate(texts):
            if pace_per_s:
                delay = started + n / pace_per_s - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            futures.append(await producer.send(watch.topics.texts, value=encode(text), key=text.id.encode()))
            watch.sent.append((time.monotonic(), text.id))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def watch_all(bootstrap: str, watch: Watch, timeout_s: float) -> None:
    """Read labels, dead letters and examples until ``watch.done()`` (or the timeout)."""
    topics = [watch.topics.labels, watch.topics.deadletter, watch.topics.examples]
    await collect(bootstrap, topics, watch.done, timeout_s=timeout_s, on_record=watch.on_record)


async def read_to_end(bootstrap: str, watch: Watch, timeout_s: float = 120.0) -> Watch:
    """Read labels, dead letters and examples from the start up to their end offsets now (no group):
    the final count, with every repeat and every example written so far."""
    from aiokafka import AIOKafkaConsumer

    names = [watch.topics.labels, watch.topics.deadletter, watch.topics.examples]
    consumer = AIOKafkaConsumer(
        *names,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout_s
        while {tp.topic for tp in consumer.assignment()} != set(names) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        parts = sorted(consumer.assignment())
        end = await consumer.end_offsets(parts)
        deadline = time.monotonic() + timeout_s
        while [tp for tp in parts if await consumer.position(tp) < end[tp]]:
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {names} to their end in {timeout_s:.0f} s")
            for tp, records in (await consumer.getmany(timeout_ms=200, max_records=500)).items():
                for record in records:
                    if record.offset < end[tp]:
                        watch.on_record(tp.topic, record, Collected())
    finally:
        await consumer.stop()
    return watch


def texts_of(fitted: Any, run: str, n: int, start: int = 0) -> list[TextIn]:
    """``n`` test texts of the fitted folder's labels, with ids ``<run>-<i>``."""
    return [
        TextIn(id=f"{run}-{i}", text=fitted.test[i % len(fitted.test)].text) for i in range(start, start + n)
    ]
