"""A deployment's state in Kafka: publish a fitted model, and read back what a worker starts from.

Publishing a model (``redline fit --publish``, or the first worker started with ``--model``) writes its
training examples to ``redline.examples`` (source *seed*, with their embeddings) and then its first
snapshot to ``redline.models``. A worker that starts reads the newest snapshot and every example, so it
needs only the broker address.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from redline.adapters.model_files import FittedModel
from redline.core.engine import JudgePolicy
from redline.errors import ConfigError, ModelError
from redline.schemas import ExampleRecord, encode, encode_embeddings
from redline.streams import example_checkpoint
from redline.streams.example_store import ExampleStore
from redline.streams.kafka_io import (
    BULK_BATCH_BYTES,
    PartitionReader,
    consumer,
    producer,
    start,
    write_partition,
)
from redline.streams.model_topic import (
    EncodedParams,
    PublishedModel,
    SnapshotInfo,
    encode_params,
    newest_head,
    publish,
    read_newest,
)
from redline.streams.settings import StreamSettings
from redline.streams.topics import ensure_topics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeploymentState:
    """What a worker starts from: the newest snapshot and every example."""

    published: PublishedModel
    store: ExampleStore
    note: str


def policy_of(settings: StreamSettings) -> JudgePolicy:
    """The judge policy the settings ask for (used when this worker publishes the first model)."""
    return JudgePolicy(
        judge_share=settings.judge_share,
        threshold=settings.uncertainty_threshold,
        max_candidates=settings.max_candidates,
        context_examples=settings.context_examples,
    )


async def publish_model(
    settings: StreamSettings,
    fitted: FittedModel,
    *,
    policy: JudgePolicy | None = None,
    force: bool = False,
    store: ExampleStore | None = None,
) -> PublishedModel:
    """Publish ``fitted`` as the deployment's model: its examples, then its first snapshot.

    Refuses (ConfigError) when a model is published already, unless ``force``. A ``store`` that holds the
    examples topic up to its end gets the examples written, unless another record came between (then it
    is left as it was: its ``next_offset`` tells).
    """
    await ensure_topics(settings)
    model = fitted.model
    embedder = str(fitted.metadata.get("embedder") or "")
    topics = settings.topics
    reader_client = consumer(settings)
    await start(reader_client, settings)
    writer = producer(settings, max_batch_size=BULK_BATCH_BYTES)
    await start(writer, settings)
    encoded: asyncio.Future[EncodedParams] | None = None
    try:
        models = PartitionReader(reader_client, topics.models)
        if not force and await newest_head(models) is not None:  # its header is enough: not decoded
            raise ConfigError(
                f"{topics.models} already holds a model: change it with `redline control`, or publish to "
                "another topic prefix"
            )
        # the snapshot's bytes on a thread while the seed examples are encoded and written (quantising
        # and compressing 1000 labels' weights took ~1 s of the first start); a first start at 1000
        # labels, two runs each, interleaved: ready in 10.1 / 9.6 and 10.5 / 9.5 s -> 10.1 / 9.1 and
        # 10.0 / 8.6 s
        params = model.params_state()
        encoded = encode_params(params)
        now = time.time()
        X = np.asarray(model.X_, dtype=np.float32)
        records = [
            ExampleRecord(
                id=f"seed:{i:07d}", text=text, label=str(label), source="seed", embedder=embedder,
                embedding=embedded, model_version=fitted.version, at=now,
            )
            for i, (text, label, embedded) in enumerate(
                zip(model.texts_, model.y_.tolist(), encode_embeddings(X), strict=True)
            )
        ]  # fmt: skip
        # every seed example is on the broker before the snapshot
        offsets = await write_partition(
            writer, topics.examples, [(r.id.encode(), encode(r)) for r in records]
        )
        if store is not None and offsets == list(range(store.next_offset, store.next_offset + len(offsets))):
            for offset, record, x in zip(offsets, records, X, strict=True):
                store.add(offset, record, x)  # what reading them back gives (the same float32 values)
        examples_end = await PartitionReader(reader_client, topics.examples).end()
        quantiles = fitted.metadata.get("uncertainty_quantiles")
        info = SnapshotInfo.new(
            examples_offset=examples_end,
            control_offset=0,
            policy=(policy or policy_of(settings)).to_dict(),
            group=settings.app_id,
            embedder=embedder or None,
            uncertainty_quantiles=tuple(float(q) for q in quantiles) if quantiles else None,
            labels=len(model.classes_),
            examples=len(records),
            reason=f"published {fitted.version} from {fitted.folder}",
            published_by="redline",
        )
        return await publish(
            writer, topics.models, params, info, secret=settings.snapshot_key, encoded=encoded
        )
    finally:
        if encoded is not None:
            encoded.cancel()  # still running when writing the examples failed: its result is not wanted
            if not encoded.cancelled():
                encoded.exception()  # finished but maybe unread (its error included): read, so nothing warns
        await writer.stop()
        await reader_client.stop()


async def read_state(
    settings: StreamSettings, embedder_id: str | None, *, checkpoint: bool = True
) -> tuple[PublishedModel | None, ExampleStore]:
    """The newest snapshot (None when nothing was published) and every example on the topics, read
    at once (the snapshot decodes in a thread while the examples are applied). With ``checkpoint``, the
    examples start from the worker's checkpoint when it still fits the topic, and only the records
    after it are read (:mod:`.example_checkpoint`)."""
    await ensure_topics(settings)

    async def newest() -> PublishedModel | None:
        client = consumer(settings)
        await start(client, settings)
        try:
            return await read_newest(
                PartitionReader(client, settings.topics.models), secret=settings.snapshot_key
            )
        finally:
            await client.stop()

    async def examples() -> ExampleStore:
        client = consumer(settings)
        await start(client, settings)
        try:
            reader = PartitionReader(client, settings.topics.examples)
            store = await _checkpointed(settings, reader, embedder_id or None) if checkpoint else None
            store = store or ExampleStore(embedder_id or None)
            records = await reader.read(store.next_offset)
            store.apply_many((record.offset, record.key, record.value) for record in records)
        finally:
            await client.stop()
        return store

    published, store = await asyncio.gather(newest(), examples())
    return published, store


async def _checkpointed(
    settings: StreamSettings, reader: PartitionReader, embedder: str | None
) -> ExampleStore | None:
    """The store of the worker's checkpoint when the record it names is still on the topic, unchanged."""
    found = example_checkpoint.load(
        example_checkpoint.checkpoint_path(settings.data_dir, reader.topic), reader.topic, embedder
    )
    if found is None:
        return None
    store, last = found
    if last.offset >= await reader.end():
        return None  # the topic is shorter than when the checkpoint was written: not the same topic
    records = await reader.read(last.offset, last.offset + 1)
    if not records or records[0].offset != last.offset or not last.matches(records[0].key, records[0].value):
        log.info(
            "examples checkpoint does not match %s at offset %d: reading it all", reader.topic, last.offset
        )
        return None
    return store


def save_checkpoint(settings: StreamSettings, store: ExampleStore) -> bool:
    """Write the worker's checkpoint of ``store`` (what a restart starts from); whether it was written
    (a failure is logged)."""
    path = example_checkpoint.checkpoint_path(settings.data_dir, settings.topics.examples)
    try:
        return example_checkpoint.save(path, store, settings.topics.examples)
    except OSError as exc:  # a cache: the next start reads the topic instead
        log.warning("cannot write the examples checkpoint %s: %r", path, exc)
        return False


async def starting_state(
    settings: StreamSettings, load_folder: Callable[[], FittedModel] | None, embedder_id: str | None
) -> DeploymentState:
    """What a worker starts from; with nothing published, the model folder ``load_folder`` reads (from
    ``--model``) is published first. The folder is read only then (0.15 s at 150 labels, 0.7 s at 1000)."""
    published, store = await read_state(settings, embedder_id)
    note = ""
    if published is None:
        if load_folder is None:
            raise ConfigError(
                f"nothing is published on {settings.topics.models} and no --model was given: publish a model "
                "with `redline fit ... --publish` or start this worker with --model DIR"
            )
        fitted = load_folder()
        read_to = store.next_offset
        published = await publish_model(settings, fitted, store=store)
        if store.next_offset == read_to:  # another record came between its examples: read them all
            published, store = await read_state(settings, embedder_id)
        if published is None:
            raise ModelError(f"the model published to {settings.topics.models} cannot be read back")
        note = f"published {fitted.folder} as {published.version}; "
    elif load_folder is not None:
        note = f"{settings.topics.models} already holds a model: --model {settings.model_dir} not used; "
    if store.next_offset != store.checkpointed_to:  # read (or wrote) past the checkpoint: a new one
        save_checkpoint(settings, store)
    return DeploymentState(published, store, note)
