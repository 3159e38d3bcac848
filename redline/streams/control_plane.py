"""A worker's background work beside its agents: follow the examples and the snapshots, and lead when
elected (see :mod:`.leader`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from redline.streams.drift_watch import follow_drift_events
from redline.streams.kafka_io import BATCHED_FOLLOW_MIN_BYTES, PartitionReader, follower, producer, start
from redline.streams.leader import Leader
from redline.streams.worker import Worker

log = logging.getLogger(__name__)


async def run_control_plane(worker: Worker, is_leader: Callable[[], bool]) -> None:
    """Start the control-plane producer and the readers, then follow and lead until cancelled."""
    settings = worker.settings
    writer = producer(settings)
    await start(writer, settings)
    # the examples can wait (one per judge-confirmed result; the store reads them up to 0.5 s later, and
    # the drift watch, which relearns the examples of the results it read, first waits for the store to
    # reach the topic's end: Leader.catch_up_store); models and events are read as they come (a reload,
    # a command's answer)
    examples_client = follower(settings, fetch_min_bytes=BATCHED_FOLLOW_MIN_BYTES)
    models_client, events_client = follower(settings), follower(settings)
    await start(examples_client, settings)
    await start(models_client, settings)
    await start(events_client, settings)
    examples = PartitionReader(examples_client, settings.topics.examples)
    worker.producer, worker.examples_end = writer, examples.end
    leader = Leader(worker, is_leader)
    worker.leading = lambda: leader.leading
    try:
        await asyncio.gather(
            worker.follow_examples(examples),
            worker.follow_models(PartitionReader(models_client, settings.topics.models)),
            leader.run(),
            *([follow_drift_events(worker, PartitionReader(events_client, settings.topics.events))]
              if settings.drift else []),
        )  # fmt: skip
    finally:
        worker.producer, worker.examples_end = None, None
        for client in (examples_client, models_client, events_client, writer):
            try:
                await client.stop()
            except Exception as exc:  # stopping on shutdown: nothing left to do but say so
                log.warning("stopping a Kafka client failed: %r", exc)
