"""Model snapshots on the compacted ``redline.models`` topic: the worker's learned state lives in Kafka.

After every change (learning, an added label) the worker publishes the whole model as one snapshot
blob (:func:`redline.adapters.snapshot_store.snapshot_to_bytes`) under the key ``current``. A worker
that starts reads the newest snapshot there and continues from it when it descends from the model
folder it was given (same loaded version), so a restart keeps what the stream has learned.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from redline.errors import ModelError
from redline.streams.settings import StreamSettings

log = logging.getLogger(__name__)

#: the key of the live model on the models topic
MODEL_KEY = b"current"
#: largest snapshot the topic, producer and reader accept (embeddings of every training text included)
MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ModelLineage:
    """Where a model version comes from: the folder's version and how many changes followed."""

    version: str
    base_version: str
    updates: int
    learned: int

    @classmethod
    def start(cls, version: str) -> ModelLineage:
        """The lineage of a model as loaded (no change yet)."""
        return cls(version, version, 0, 0)

    def next(self, learned: int = 0) -> ModelLineage:
        """The lineage after one more change (``learned`` more texts): version ``<base>#<n>``."""
        updates = self.updates + 1
        return ModelLineage(
            f"{self.base_version}#{updates}", self.base_version, updates, self.learned + learned
        )

    def to_metadata(self) -> dict[str, Any]:
        """As snapshot metadata."""
        return {
            "version": self.version,
            "base_version": self.base_version,
            "updates": self.updates,
            "learned": self.learned,
        }


def snapshot_bytes(model: Any, lineage: ModelLineage, extra: dict[str, Any] | None = None) -> bytes:
    """One blob holding ``model``'s state and its lineage."""
    from redline.adapters.snapshot_store import Snapshot, snapshot_to_bytes

    meta = {"kind": "redline.RedClassifier", **(extra or {}), **lineage.to_metadata()}
    blob = snapshot_to_bytes(Snapshot(model.to_state(), meta))
    if len(blob) > MAX_SNAPSHOT_BYTES:
        raise ModelError(f"model snapshot of {len(blob)} bytes exceeds the {MAX_SNAPSHOT_BYTES} byte limit")
    return blob


async def _partitions(bootstrap: str, topic: str, timeout_s: float) -> list[int]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        if topic not in await admin.list_topics():
            return []
        [described] = await admin.describe_topics([topic])
        return sorted(int(p["partition"]) for p in described.get("partitions", []))
    finally:
        await admin.close()


async def read_latest(
    settings: StreamSettings, *, timeout_s: float = 60.0
) -> tuple[Any, ModelLineage] | None:
    """The newest model on the models topic as (RedClassifier, lineage), or None when there is none."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from redline.adapters.snapshot_store import snapshot_from_bytes
    from redline.core.classifier import RedClassifier

    topic = settings.topics.models
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=MAX_SNAPSHOT_BYTES,
        fetch_max_bytes=MAX_SNAPSHOT_BYTES,
    )
    try:
        await asyncio.wait_for(consumer.start(), timeout_s)
        tps = [TopicPartition(topic, p) for p in await _partitions(settings.bootstrap, topic, timeout_s)]
        if not tps:
            return None
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        newest = None
        for tp in tps:
            if ends[tp] == 0:
                continue
            consumer.seek(tp, ends[tp] - 1)
            record = await asyncio.wait_for(consumer.getone(tp), timeout_s)
            if (
                record.key == MODEL_KEY
                and record.value
                and (newest is None or record.timestamp > newest.timestamp)
            ):
                newest = record
        if newest is None:
            return None
        snapshot = snapshot_from_bytes(newest.value)
        meta = snapshot.metadata
        lineage = ModelLineage(
            str(meta["version"]), str(meta["base_version"]), int(meta["updates"]), int(meta["learned"])
        )
        return RedClassifier.from_state(snapshot.state), lineage
    finally:
        await consumer.stop()
