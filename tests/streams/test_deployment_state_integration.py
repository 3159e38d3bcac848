"""A deployment's first worker publishes its folder and starts from what it wrote (a real broker): the
same state a later worker reads back, without reading the examples back itself."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import numpy as np
import pytest

from redline.adapters.model_files import FittedModel
from redline.core.classifier import RedClassifier
from redline.core.config import EngineConfig
from redline.schemas import ExampleRecord, encode, encode_embedding
from redline.streams import deployment
from redline.streams.deployment import publish_model, read_state, starting_state
from redline.streams.example_store import ExampleStore
from redline.streams.kafka_io import PartitionReader, consumer, producer, start, write_partition
from redline.streams.settings import StreamSettings
from redline.streams.topics import ensure_topics

pytestmark = pytest.mark.integration


def _fitted(tmp_path) -> FittedModel:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 8)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = ["a", "b", "c"] * 20
    texts = [f"text {i} of {label}" for i, label in enumerate(y)]
    model = RedClassifier(EngineConfig(scorer="flat", features="embedding+ngrams")).fit(X, texts, y)
    return FittedModel(model, "m@1", {"embedder": "fake@1"}, tmp_path)


def _settings(bootstrap: str, data_dir) -> StreamSettings:
    return StreamSettings(
        bootstrap=bootstrap, topic_prefix=f"ds{uuid.uuid4().hex[:8]}.", partitions=1, data_dir=data_dir
    )


async def _write_example(settings: StreamSettings, example_id: str, text: str) -> None:
    writer = producer(settings)
    await start(writer, settings)
    try:
        record = ExampleRecord(
            id=example_id, text=text, label="a", source="control", embedder="fake@1",
            embedding=encode_embedding(np.ones(8, dtype=np.float32) / np.sqrt(8)),
        )  # fmt: skip
        await writer.send_and_wait(settings.topics.examples, value=encode(record), key=example_id.encode())
    finally:
        await writer.stop()


def _same_rows(a: ExampleStore, b: ExampleStore) -> None:
    mine, theirs = a.rows(), b.rows()
    assert mine.ids == theirs.ids and mine.texts == theirs.texts and mine.labels == theirs.labels
    assert np.array_equal(mine.X, theirs.X) and np.array_equal(mine.offsets, theirs.offsets)
    assert a.next_offset == b.next_offset


def test_the_first_worker_starts_from_what_it_published(kafka_bootstrap: str, tmp_path, monkeypatch) -> None:
    settings = _settings(kafka_bootstrap, tmp_path / "worker")
    fitted = _fitted(tmp_path)
    reads = []

    async def counted(*args, **kwargs):
        reads.append(args)
        return await read_state(*args, **kwargs)

    monkeypatch.setattr(deployment, "read_state", counted)
    state = asyncio.run(starting_state(settings, lambda: fitted, "fake@1"))
    assert len(reads) == 1  # before publishing (nothing there); not again after
    # what any later worker starts from (the whole topic, not this worker's checkpoint)
    published, store = asyncio.run(read_state(settings, "fake@1", checkpoint=False))
    assert published is not None and state.published.version == published.version
    _same_rows(state.store, store)
    assert store.next_offset == 60
    x = np.asarray(fitted.model.X_[:5])
    np.testing.assert_array_equal(
        RedClassifier.from_params(state.published.params).predict_proba(x, list(fitted.model.texts_[:5])),
        RedClassifier.from_params(published.params).predict_proba(x, list(fitted.model.texts_[:5])),
    )


def test_a_store_behind_the_topic_is_left_as_it_was(kafka_bootstrap: str, tmp_path) -> None:
    """Another record between what the store read and what was published: the store is not filled (the
    worker reads everything back instead)."""
    settings = _settings(kafka_bootstrap, tmp_path / "worker")

    async def other_record_first() -> None:
        await ensure_topics(settings)
        await _write_example(settings, "control:x:0", "hello")

    asyncio.run(other_record_first())
    store = ExampleStore("fake@1")  # read nothing: the record at offset 0 is not in it
    asyncio.run(publish_model(settings, _fitted(tmp_path), store=store))
    assert store.next_offset == 0 and len(store) == 0
    _, everything = asyncio.run(read_state(settings, "fake@1"))
    assert len(everything) == 61 and everything.next_offset == 61


def _applied(monkeypatch) -> list[int]:
    """The number of topic records each ExampleStore.apply_many call applied."""
    counts: list[int] = []
    real = ExampleStore.apply_many

    def counted(self, records):
        records = list(records)
        counts.append(len(records))
        return real(self, records)

    monkeypatch.setattr(ExampleStore, "apply_many", counted)
    return counts


def test_a_restart_reads_only_the_examples_after_its_checkpoint(
    kafka_bootstrap: str, tmp_path, monkeypatch
) -> None:
    settings = _settings(kafka_bootstrap, tmp_path / "worker")
    fitted = _fitted(tmp_path)
    asyncio.run(starting_state(settings, lambda: fitted, "fake@1"))  # publishes; its checkpoint: 60 examples
    asyncio.run(_write_example(settings, "control:x:0", "one more"))
    applied = _applied(monkeypatch)
    restarted = asyncio.run(starting_state(settings, None, "fake@1"))
    assert applied == [1]  # the example written since, not the 60 before it
    _, everything = asyncio.run(read_state(settings, "fake@1", checkpoint=False))
    _same_rows(restarted.store, everything)
    assert len(restarted.store) == 61
    # that restart wrote a new checkpoint: the next one reads nothing
    applied.clear()
    again = asyncio.run(starting_state(settings, None, "fake@1"))
    assert applied == [0] and len(again.store) == 61


def test_a_checkpoint_that_does_not_match_the_topic_is_not_used(
    kafka_bootstrap: str, tmp_path, monkeypatch
) -> None:
    """A checkpoint whose last record is not on the topic as it was (here: same key and offset, other
    text, as after a topic deleted and published again) is ignored: the whole topic is read."""
    settings = _settings(kafka_bootstrap, tmp_path / "worker")
    fitted = _fitted(tmp_path)
    asyncio.run(starting_state(settings, lambda: fitted, "fake@1"))
    _, everything = asyncio.run(read_state(settings, "fake@1", checkpoint=False))
    offset, _key, record = everything.last
    forged = ExampleStore("fake@1")
    forged.add(offset, replace(record, text="not what the topic holds"), np.ones(8, dtype=np.float32))
    assert deployment.save_checkpoint(settings, forged)
    applied = _applied(monkeypatch)
    restarted = asyncio.run(starting_state(settings, None, "fake@1"))
    assert applied == [60]
    _same_rows(restarted.store, everything)


def test_records_written_a_batch_at_a_time_keep_their_order_and_offsets(
    kafka_bootstrap: str, tmp_path
) -> None:
    """``write_partition`` (how the seed examples go out): many batches, one offset per record, in order;
    a record larger than a batch goes in one of its own."""
    settings = _settings(kafka_bootstrap, tmp_path / "worker")
    records = [(f"k{i}".encode(), bytes([i % 251]) * 1000) for i in range(300)]
    records[150] = (b"big", b"x" * 40_000)

    async def main() -> tuple[list[int], list[tuple[bytes, bytes]]]:
        await ensure_topics(settings)
        writer = producer(settings, max_batch_size=16 * 1024)  # ~15 records a batch: 20 batches
        await start(writer, settings)
        reader_client = consumer(settings)
        await start(reader_client, settings)
        try:
            await writer.send_and_wait(settings.topics.examples, value=b"first", key=b"first")
            offsets = await write_partition(writer, settings.topics.examples, records)
            read = await PartitionReader(reader_client, settings.topics.examples).read(1)
            return offsets, [(r.key, r.value) for r in read]
        finally:
            await writer.stop()
            await reader_client.stop()

    offsets, read = asyncio.run(main())
    assert offsets == list(range(1, 301))
    assert read == records
