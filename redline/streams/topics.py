"""Topic declarations: names, partitions, retention, and creating them on a broker.

Every topic carries raw bytes; the agents decode with :mod:`redline.schemas` themselves so that a
malformed message becomes a dead letter with its reason instead of a crashed worker.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from redline.errors import KafkaBrokerError
from redline.streams.settings import StreamSettings, TopicNames

#: topics whose latest value per key is what matters: model snapshots, the training examples
COMPACTED = frozenset({"models", "examples"})
#: topics read in one total order by every worker (one partition): commands, snapshots, examples, events
SINGLE_PARTITION = frozenset({"control", "models", "examples", "events"})


@dataclass(frozen=True)
class Topics:
    """The Faust topic objects of one app, one attribute per :class:`TopicNames` field."""

    texts: Any
    predictions: Any
    labels: Any
    judge_requests: Any
    judge_verdicts: Any
    control: Any
    events: Any
    models: Any
    examples: Any
    deadletter: Any


def _topic_config(field_name: str) -> dict[str, str]:
    return {"cleanup.policy": "compact"} if field_name in COMPACTED else {}


def partitions_of(field_name: str, settings: StreamSettings) -> int:
    """Partitions of a topic: one for the totally ordered ones, ``settings.partitions`` otherwise."""
    return 1 if field_name in SINGLE_PARTITION else settings.partitions


def declare_topics(app: Any, settings: StreamSettings) -> Topics:
    """Declare every redline topic on a Faust ``app`` (raw bytes keys and values)."""
    names = settings.topics
    made: dict[str, Any] = {}
    for field_name in TopicNames.__dataclass_fields__:
        made[field_name] = app.topic(
            getattr(names, field_name),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=partitions_of(field_name, settings),
            replicas=settings.replication,
            compacting=field_name in COMPACTED or None,
            config=_topic_config(field_name) or None,
        )
    return Topics(**made)


async def ensure_topics(settings: StreamSettings, *, timeout_s: float = 60.0) -> list[str]:
    """Create the redline topics that do not exist yet on the broker; return the ones created."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    names = settings.topics
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap,
        request_timeout_ms=int(timeout_s * 1000),
        **settings.security.aiokafka_kwargs(),
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
    except Exception as exc:
        raise KafkaBrokerError(f"cannot reach Kafka at {settings.bootstrap}: {exc!r}") from None
    try:
        existing = set(await admin.list_topics())
        wanted = []
        for field_name in TopicNames.__dataclass_fields__:
            name = getattr(names, field_name)
            if name in existing:
                continue
            config = _topic_config(field_name)
            parts = partitions_of(field_name, settings)
            wanted.append(NewTopic(name, parts, settings.replication, topic_configs=config))
        if wanted:
            response = await admin.create_topics(wanted, timeout_ms=int(timeout_s * 1000))
            for topic, code, *_ in getattr(
                response, "topic_errors", getattr(response, "topic_error_codes", [])
            ):
                if code not in (0, 36):  # 36 = TOPIC_ALREADY_EXISTS (a concurrent creator)
                    raise KafkaBrokerError(f"cannot create topic {topic}: Kafka error code {code}")
            await _until_served(admin, {t.name for t in wanted}, settings, timeout_s)
        return [t.name for t in wanted]
    finally:
        await admin.close()


async def _until_served(admin: Any, names: set[str], settings: StreamSettings, timeout_s: float) -> None:
    """Wait until the broker serves every topic in ``names``: listed without error, a leader per partition.

    CreateTopics answers once the controller has the topics; a broker's metadata cache follows a few
    milliseconds later, and a client that asks in between is told the topic does not exist (CI: `redline
    control` right after the topics were made refused with "nothing is deployed").
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        described = await admin.describe_topics(sorted(names))
        ready = {
            t["topic"]
            for t in described
            if t["error_code"] == 0 and t["partitions"] and all(p["leader"] >= 0 for p in t["partitions"])
        }
        if not (missing := names - ready):
            return
        if loop.time() >= deadline:
            raise KafkaBrokerError(
                f"{settings.bootstrap} created {min(missing)} but does not serve it after {timeout_s:g} s"
            )
        await asyncio.sleep(0.05)


def ensure_topics_sync(settings: StreamSettings, *, timeout_s: float = 60.0) -> list[str]:
    """Blocking :func:`ensure_topics` for scripts and tests."""
    return asyncio.run(ensure_topics(settings, timeout_s=timeout_s))
