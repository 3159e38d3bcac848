"""A worker-local checkpoint of the example store, so that a restart reads only the examples written since.

A starting worker reads every record of ``redline.examples``: at 1000 labels 30,000 examples of ~2.3 KB
(text + embedding), 1.1 s to fetch and 1.6 s to decode and apply, half of a restart (start-up probe,
this machine). Kafka Streams restores a state store the same way: from a local copy and the changelog
offset it holds, then the rest of the changelog. The topic stays the truth:

- the checkpoint names the last example it applied (offset, key, CRC-32 of its value: an example
  record holds the time it was written); a worker uses it only when that record is still on the topic
  unchanged (a topic deleted and published again, even with the same keys at the same offsets, has other
  values; a record superseded and compacted away is not there), else it reads everything;
- it is used only for :data:`MAX_AGE_S`: compaction drops a tombstone ``delete.retention.ms`` after it
  was written (Kafka's default: 24 h), so a tombstone written after an older checkpoint might be gone;
- it is only a cache: a missing, unreadable or foreign one (another topic, another embedder) is ignored.

The file lives in the worker's data folder (``--data-dir``); NumPy's ``.npz`` without pickles.
"""

from __future__ import annotations

import json
import logging
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from redline.schemas import encode
from redline.streams.example_store import ExampleStore, TrainingRows

log = logging.getLogger(__name__)

#: seconds a checkpoint is used for: well within Kafka's default delete.retention.ms (24 h)
MAX_AGE_S = 6 * 3600.0
FORMAT = 1


@dataclass(frozen=True)
class LastRecord:
    """The last example a checkpoint applied: where it is and what it held."""

    offset: int
    key: bytes
    crc: int  # CRC-32 of its value

    @classmethod
    def of(cls, store: ExampleStore) -> LastRecord | None:
        """The store's last applied record (None when it is not known: nothing to check against)."""
        if store.last is None:
            return None
        offset, key, record = store.last
        return cls(offset, key, zlib.crc32(encode(record)))

    def matches(self, key: bytes | None, value: bytes | None) -> bool:
        """Whether a record read back at :attr:`offset` is this one."""
        return key == self.key and value is not None and zlib.crc32(value) == self.crc


def checkpoint_path(data_dir: Path, topic: str) -> Path:
    """Where a worker keeps its checkpoint of ``topic``."""
    return data_dir / "checkpoints" / f"{topic}.npz"


def save(path: Path, store: ExampleStore, topic: str) -> bool:
    """Write ``store``'s live examples and position to ``path`` (atomically); False when the store's
    last record is unknown (nothing to check the checkpoint against later)."""
    last = LastRecord.of(store)
    if last is None:
        return False
    rows = store.rows()
    meta = {
        "format": FORMAT,
        "topic": topic,
        "embedder": store.embedder,
        "next_offset": store.next_offset,
        "skipped": store.skipped,
        "saved_at": time.time(),
        "last": {"offset": last.offset, "key": last.key.hex(), "crc": last.crc},
        "ids": rows.ids,
        "texts": rows.texts,
        "labels": rows.labels,
        "sources": rows.sources,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with partial.open("wb") as out:
            blob = np.frombuffer(json.dumps(meta).encode(), np.uint8)
            np.savez(out, X=rows.X, offsets=rows.offsets, meta=blob)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)  # a write that failed half-way leaves nothing behind
    return True


def load(
    path: Path, topic: str, embedder: str | None, now: float | None = None
) -> tuple[ExampleStore, LastRecord] | None:
    """The store a checkpoint holds and the record to check it against; None when there is none, it is
    unreadable, older than :data:`MAX_AGE_S`, or of another topic or embedder."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta: dict[str, Any] = json.loads(data["meta"].tobytes())
            X, offsets = data["X"], data["offsets"]
        age = (time.time() if now is None else now) - float(meta["saved_at"])
        if meta["format"] != FORMAT or meta["topic"] != topic or meta["embedder"] != embedder:
            return None
        if not 0 <= age <= MAX_AGE_S:
            return None
        rows = TrainingRows(
            X=np.asarray(X, dtype=np.float32),
            ids=tuple(meta["ids"]),
            texts=tuple(meta["texts"]),
            labels=tuple(meta["labels"]),
            sources=tuple(meta["sources"]),
            offsets=np.asarray(offsets, dtype=np.int64),
        )
        store = ExampleStore.from_rows(embedder, rows, int(meta["next_offset"]), int(meta["skipped"]))
        last = meta["last"]
        return store, LastRecord(int(last["offset"]), bytes.fromhex(last["key"]), int(last["crc"]))
    except Exception as exc:  # a cache: whatever is wrong with it, the topic is read instead
        log.warning("examples checkpoint %s not used: %r", path, exc)
        return None
