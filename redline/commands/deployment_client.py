"""What ``redline control`` and ``redline fit --publish`` share: reaching a deployment's topics.

A deployment is the set of workers under one topic prefix on one Kafka cluster. Both commands take
``--bootstrap`` / ``--topic-prefix`` (``REDLINE_BOOTSTRAP`` / ``REDLINE_TOPIC_PREFIX``) and the
``--kafka-*`` security flags, build :class:`~redline.streams.settings.StreamSettings` from them, and
talk to the broker with plain aiokafka clients, as any outside producer would.

:func:`send_command` puts one operator's command on ``<prefix>control`` and waits for the leader's
answer on ``<prefix>events``: it notes the end of every events partition *before* it produces, then reads
from there, so an older event can never be taken for the answer.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from redline.commands.settings_flags import (
    add_kafka_security_flags,
    add_setting_flags,
    kafka_security_from_args,
    long_flags,
    setting_values,
)
from redline.errors import KafkaBrokerError, RecordError

if TYPE_CHECKING:
    from redline.schemas import ControlCommand, Event
    from redline.streams.settings import StreamSettings

STREAM_SETTINGS = "redline.streams.settings:StreamSettings"
#: the StreamSettings fields these commands take a flag for (the rest: REDLINE_* variables)
DEPLOYMENT_FLAGS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"bootstrap": ("--bootstrap", "-b"), "topic_prefix": ("--topic-prefix",), "app_id": ("--app-id",)}
)
#: the event kinds that answer a command (a ``model`` event with its id only says which snapshot has it)
ANSWER_KINDS = frozenset({"applied", "rejected", "info"})
#: the partition of ``<prefix>control`` the leader reads: the commands' one total order (the topic has
#: one partition where redline created it; one made by a broker's auto-creation may have more)
CONTROL_PARTITION = 0
#: seconds to wait for the broker when connecting
CONNECT_TIMEOUT_S = 30.0


def add_deployment_flags(parser: argparse.ArgumentParser, title: str = "deployment") -> None:
    """Add ``--bootstrap``, ``--topic-prefix`` and the ``--kafka-*`` security flags."""
    group = parser.add_argument_group(title, "the Kafka cluster and topic prefix of the deployment")
    add_setting_flags(group, STREAM_SETTINGS, DEPLOYMENT_FLAGS)
    add_kafka_security_flags(parser)


def deployment_settings(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> StreamSettings:
    """The deployment's settings: the ``REDLINE_*`` variables of ``environ`` (None: ``os.environ``),
    then the flags."""
    # deferred: pydantic (0.2-0.4 s); building the parser never loads it
    from redline.streams.settings import StreamSettings

    return StreamSettings.from_env(
        environ,
        flags=long_flags(DEPLOYMENT_FLAGS),
        security=kafka_security_from_args(args, environ),
        **setting_values(args, DEPLOYMENT_FLAGS),
    )


def given_deployment_flags(args: argparse.Namespace) -> list[str]:
    """The deployment flags (security ones included) given on the command line."""
    from redline.commands.settings_flags import KAFKA_SECURITY_FLAGS

    given = []
    for flags in (DEPLOYMENT_FLAGS, KAFKA_SECURITY_FLAGS):
        given += [names[0] for name, names in flags.items() if getattr(args, name, None) is not None]
    return given


def _reader(settings: StreamSettings) -> Any:
    """An unstarted consumer without a group: it commits nothing and leaves other readers alone."""
    # deferred: aiokafka (and the stream settings, pydantic) only for the commands that talk to Kafka
    from aiokafka import AIOKafkaConsumer

    from redline.streams.kafka_io import quiet_client_logs

    quiet_client_logs()
    return AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        **settings.security.aiokafka_kwargs(),
    )


def _writer(settings: StreamSettings) -> Any:
    """An unstarted producer that waits for every in-sync replica."""
    from aiokafka import AIOKafkaProducer

    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap,
        acks="all",
        enable_idempotence=True,
        **settings.security.aiokafka_kwargs(),
    )


async def _start(client: Any, settings: StreamSettings) -> None:
    try:
        await asyncio.wait_for(client.start(), CONNECT_TIMEOUT_S)
    except Exception as exc:
        await client.stop()
        raise KafkaBrokerError(f"cannot reach Kafka at {settings.bootstrap}: {exc!r}") from None


async def check_reachable(settings: StreamSettings) -> None:
    """Connect to the cluster and list its topics (KafkaBrokerError when that fails)."""
    reader = _reader(settings)
    await _start(reader, settings)
    try:
        await reader.topics()
    finally:
        await reader.stop()


@dataclass(frozen=True)
class Answer:
    """Where a command was written and what answered it.

    ``event`` is None when nothing answered in time (or no answer was awaited); ``model_version`` is the
    snapshot that carries the change, from the answer or from a ``model`` event of the same command.
    ``problem`` says why reading the answers stopped early, if it did.
    """

    topic: str
    partition: int
    offset: int
    event: Event | None = None
    model_version: str | None = None
    problem: str = ""


async def send_command(settings: StreamSettings, command: ControlCommand, *, wait_s: float | None) -> Answer:
    """Produce ``command`` keyed by its id to ``<prefix>control``; with ``wait_s``, await its answer.

    Raises KafkaBrokerError (nothing was sent) when the broker cannot be reached, when the deployment's
    topics do not exist, or when the broker does not take the command.
    """
    from redline.schemas import encode

    topics = settings.topics
    reader = _reader(settings)
    await _start(reader, settings)
    try:
        writer = _writer(settings)
        await _start(writer, settings)
        try:
            existing = await reader.topics()
            needed = [topics.control] + ([topics.events] if wait_s is not None else [])
            missing = [t for t in needed if t not in existing]
            if missing:
                raise KafkaBrokerError(
                    f"no topic {missing[0]} on {settings.bootstrap}: nothing is deployed under the prefix "
                    f"{settings.topic_prefix!r} (publish a model with `redline fit --publish`, or start a "
                    "worker, first)"
                )
            partitions = await _from_the_end(reader, writer, topics.events) if wait_s is not None else []
            try:
                meta = await writer.send_and_wait(
                    topics.control,
                    value=encode(command),
                    key=command.id.encode(),
                    partition=CONTROL_PARTITION,
                )
            except Exception as exc:  # aiokafka's errors: the command is not known to be on the topic
                raise KafkaBrokerError(f"{topics.control} did not take the command: {exc!r}") from None
        finally:
            await writer.stop()
        answer = Answer(topics.control, int(meta.partition), int(meta.offset))
        if wait_s is None:
            return answer
        return await _await_answer(reader, partitions, command.id, answer, wait_s)
    finally:
        await reader.stop()


async def _from_the_end(reader: Any, writer: Any, topic: str) -> list[Any]:
    """Assign every partition of ``topic`` to ``reader``, positioned at its end now."""
    from aiokafka import TopicPartition

    partitions = [TopicPartition(topic, p) for p in sorted(await writer.partitions_for(topic))]
    reader.assign(partitions)
    ends = await reader.end_offsets(partitions)
    for tp in partitions:
        reader.seek(tp, ends[tp])
    return partitions


async def _await_answer(
    reader: Any, partitions: list[Any], command_id: str, sent: Answer, wait_s: float
) -> Answer:
    """Read the events from the positions set before sending until one answers ``command_id``."""
    from dataclasses import replace

    from redline.schemas import Event, decode

    version: str | None = None
    deadline = time.monotonic() + wait_s
    try:
        while (left := deadline - time.monotonic()) > 0:
            batches = await reader.getmany(*partitions, timeout_ms=int(min(left, 0.5) * 1000))
            for records in batches.values():
                for record in records:
                    try:
                        event = decode(Event, record.value)
                    except RecordError:  # not ours to judge: the events topic is written by the workers
                        continue
                    if event.command_id != command_id:
                        continue
                    if event.kind in ANSWER_KINDS:
                        return replace(sent, event=event, model_version=event.model_version or version)
                    if event.kind == "model":
                        version = event.model_version
    except Exception as exc:  # the command is sent; report that its answer could not be read
        return replace(sent, model_version=version, problem=f"reading the events failed: {exc!r}")
    return replace(sent, model_version=version)
