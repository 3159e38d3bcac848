"""The worker's checkpoint of its example store: what it holds comes back exactly, and one that may not
fit the topic (another topic or embedder, too old, unreadable, an unknown last record) is not used."""

from __future__ import annotations

import json

import numpy as np
import pytest

from redline.schemas import ExampleRecord, encode, encode_embedding
from redline.streams import example_checkpoint
from redline.streams.example_checkpoint import MAX_AGE_S, LastRecord, checkpoint_path, load, save
from redline.streams.example_store import ExampleStore


def _record(i: int, label: str, text: str | None = None) -> tuple[bytes, bytes]:
    x = np.random.default_rng(i).normal(size=8).astype(np.float32)
    record = ExampleRecord(
        id=f"ex:{i}", text=text or f"text {i}", label=label, source="seed", embedder="fake@1",
        embedding=encode_embedding(x),
    )  # fmt: skip
    return record.id.encode(), encode(record)


def _store() -> ExampleStore:
    """Five examples, one replaced, one removed by a tombstone."""
    store = ExampleStore("fake@1")
    for offset, (key, value) in enumerate([_record(i, "ab"[i % 2]) for i in range(5)]):
        store.apply(offset, key, value)
    store.apply(5, *_record(2, "b", "text 2 again"))
    store.apply(6, b"ex:0", None)
    return store


def test_a_checkpoint_holds_the_store_exactly(tmp_path) -> None:
    store, path = _store(), checkpoint_path(tmp_path, "p.examples")
    assert save(path, store, "p.examples")
    found = load(path, "p.examples", "fake@1")
    assert found is not None
    loaded, last = found
    before, after = store.rows(), loaded.rows()
    assert after.ids == before.ids == ("ex:1", "ex:3", "ex:4", "ex:2")
    assert (after.texts, after.labels, after.sources) == (before.texts, before.labels, before.sources)
    assert np.array_equal(after.X, before.X) and np.array_equal(after.offsets, before.offsets)
    assert (loaded.next_offset, loaded.skipped, loaded.checkpointed_to) == (7, 0, 7)
    assert len(loaded.index()) == len(store.index()) == 4 and loaded.label_counts() == store.label_counts()
    # the last example it applied (the tombstone after it says nothing about the topic): offset 5
    key, value = _record(2, "b", "text 2 again")
    assert last.offset == 5 and last.key == key and last.matches(key, value)
    assert not last.matches(key, None) and not last.matches(b"ex:9", value)
    # the store goes on from there as the one it was saved from
    loaded.apply(7, *_record(9, "a"))
    assert loaded.rows().ids[-1] == "ex:9" and loaded.next_offset == 8


def test_the_last_record_is_checked_by_its_bytes(tmp_path) -> None:
    store = ExampleStore("fake@1")
    key, value = _record(1, "a")
    store.apply(0, key, value)
    last = LastRecord.of(store)
    assert last is not None and last.matches(key, value)
    assert not last.matches(key, _record(1, "a", "other text")[1])  # same key, same offset, other value


def test_a_checkpoint_that_may_not_fit_is_not_used(tmp_path) -> None:
    store, path = _store(), checkpoint_path(tmp_path, "p.examples")
    save(path, store, "p.examples")
    assert load(path, "q.examples", "fake@1") is None  # another topic
    assert load(path, "p.examples", "other@2") is None  # another embedder
    saved_at = json.loads(np.load(path)["meta"].tobytes())["saved_at"]
    assert load(path, "p.examples", "fake@1", now=saved_at + MAX_AGE_S - 1) is not None
    assert load(path, "p.examples", "fake@1", now=saved_at + MAX_AGE_S + 1) is None  # a tombstone may be gone
    path.write_bytes(b"not a checkpoint")
    assert load(path, "p.examples", "fake@1") is None
    assert load(tmp_path / "missing.npz", "p.examples", "fake@1") is None


def test_no_checkpoint_when_the_last_record_is_unknown(tmp_path) -> None:
    store = _store()
    store.apply(7, b"ex:bad", b"{not json")  # skipped: its bytes are not kept
    path = checkpoint_path(tmp_path, "p.examples")
    assert not save(path, store, "p.examples") and not path.exists()
    assert example_checkpoint.FORMAT == 1


def test_a_write_that_fails_leaves_no_file(tmp_path, monkeypatch) -> None:
    path = checkpoint_path(tmp_path, "p.examples")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(example_checkpoint.np, "savez", full_disk)
    with pytest.raises(OSError, match="No space"):
        save(path, _store(), "p.examples")
    assert list(path.parent.iterdir()) == []  # the half-written file is gone; save_checkpoint logs the error
