"""Register the thin Faust agents on an app: each one decodes, calls a step function, sends.

- ``classify``: ``redline.texts`` in batches (``take_events``) -> predictions + labels / judge requests;
  embedding and scoring run in a thread so the event loop keeps heartbeating.
- ``judge``: ``redline.judge.requests`` -> ``redline.judge.verdicts`` (``judge_concurrency`` actors).
- ``resolve``: ``redline.judge.verdicts`` -> ``redline.labels`` or the next judge request.
Anything undecodable goes to ``redline.deadletter``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from redline.agents.classify import classify_messages
from redline.agents.deadletters import Outgoing
from redline.agents.judging import judge_message
from redline.agents.resolve import resolve_message
from redline.streams.settings import StreamSettings
from redline.streams.topics import Topics

log = logging.getLogger(__name__)

#: counters the worker's web page and log report
STATS: dict[str, int] = {"texts": 0, "dead_letters": 0, "labels": 0, "judge_requests": 0, "verdicts": 0}


async def send_all(topics: Topics, outgoing: Sequence[Outgoing]) -> None:
    """Hand each message to the producer (in order).

    Delivery is not awaited message by message: Faust flushes the producer before it commits the
    consumed offsets, so a message whose outputs were not written is consumed again (at least once).
    """
    for item in outgoing:
        STATS[item.topic] = STATS.get(item.topic, 0) + 1
        await getattr(topics, item.topic).send(key=item.key, value=item.value)


def register_agents(app: Any, topics: Topics, settings: StreamSettings) -> dict[str, Any]:
    """Define the agents on ``app``; returns them by name (for ``agent.test_context()``)."""

    async def classify(stream: Any) -> Any:
        loop = asyncio.get_running_loop()
        async for events in stream.take_events(settings.batch_size, within=settings.batch_within_s):
            messages = [event.message for event in events]
            STATS["texts"] += len(messages)
            outgoing = await loop.run_in_executor(None, classify_messages, messages)
            await send_all(topics, outgoing)
            yield len(messages)

    async def judge(stream: Any) -> Any:
        async for event in stream.events():
            await send_all(topics, await judge_message(event.message))
            yield 1

    async def resolve(stream: Any) -> Any:
        async for event in stream.events():
            await send_all(topics, resolve_message(event.message))
            yield 1

    return {
        "classify": app.agent(topics.texts, name="redline.classify")(classify),
        "judge": app.agent(
            topics.judge_requests, name="redline.judge", concurrency=settings.judge_concurrency
        )(judge),
        "resolve": app.agent(topics.judge_verdicts, name="redline.resolve")(resolve),
    }
