"""The training examples of a deployment, as every worker holds them: read from ``redline.examples``.

Each record of the compacted examples topic is one labelled example (text, label, source, embedding);
a later record with the same key replaces an earlier one, a tombstone (null value) removes it. The
store applies them in offset order and hands out immutable views: the examples the judge is shown
(:class:`~redline.core.engine.ExampleIndex`) and the training data up to an offset (what a snapshot
says its model was fitted on).
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from redline.core.engine import ExampleIndex
from redline.errors import RecordError
from redline.schemas import ExampleRecord, decode, decode_embedding, decode_embeddings

log = logging.getLogger(__name__)


def _offset(row: tuple[int, str, str, str, str]) -> int:
    return row[0]


@dataclass(frozen=True)
class TrainingRows:
    """Live examples in offset order: what a model is (re)fitted on."""

    X: NDArray[np.float32]
    ids: tuple[str, ...]
    texts: tuple[str, ...]
    labels: tuple[str, ...]
    sources: tuple[str, ...]
    offsets: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.texts)


class ExampleStore:
    """Examples by id, in the order the topic holds them.

    Parameters
    ----------
    embedder : str or None
        The embedder id of this deployment: examples embedded by another model are skipped (counted
        in :attr:`skipped`), never mixed in.
    """

    def __init__(self, embedder: str | None = None) -> None:
        self.embedder = embedder
        self.next_offset = 0
        self.skipped = 0
        self._dim = 0
        self._X = np.zeros((0, 0), dtype=np.float32)
        self._rows: list[tuple[int, str, str, str, str]] = []  # offset, id, text, label, source
        self._live: dict[str, int] = {}  # id -> position in _rows
        self._dead: set[int] = set()
        self._ordered = True  # rows in offset order (as applied from the topic): rows(start=) bisects
        self._lock = threading.Lock()  # applied on the event loop, read on the model thread
        self._index: ExampleIndex | None = None
        #: the last example applied (not a tombstone: its bytes, null, say nothing about the topic it came
        #: from): (offset, key, the example); None when unknown (a skipped record came after it). A
        #: checkpoint of the store names it (:mod:`.example_checkpoint`)
        self.last: tuple[int, bytes, ExampleRecord] | None = None
        self.checkpointed_to = -1  # next_offset of the checkpoint it was loaded from (-1: none)

    @classmethod
    def from_rows(
        cls, embedder: str | None, rows: TrainingRows, next_offset: int, skipped: int = 0
    ) -> ExampleStore:
        """A store holding ``rows`` (live examples in offset order) that has read up to ``next_offset``."""
        store = cls(embedder)
        store.next_offset, store.skipped = next_offset, skipped
        store._dim = int(rows.X.shape[1]) if rows.X.ndim == 2 else 0
        store._X = np.ascontiguousarray(rows.X, dtype=np.float32)  # no copy of a checkpoint's matrix
        offsets = rows.offsets.tolist()
        store._rows = list(zip(offsets, rows.ids, rows.texts, rows.labels, rows.sources, strict=True))
        store._ordered = offsets == sorted(offsets)
        store._live = {example_id: i for i, example_id in enumerate(rows.ids)}
        if len(store._live) != len(rows):
            raise ValueError("an example id appears twice among the rows")
        store.checkpointed_to = next_offset
        return store

    def __len__(self) -> int:
        return len(self._live)

    def apply(self, offset: int, key: bytes | None, value: bytes | None) -> ExampleRecord | None:
        """Apply one record of the examples topic; returns the example (None for a tombstone or a record
        that cannot be used, which is skipped with a log line: the topic is the deployment's own)."""
        self.next_offset = max(self.next_offset, offset + 1)
        example_id = key.decode("utf-8", "replace") if key else ""
        if value is None:
            with self._lock:
                self._drop(example_id)
                self._index = None
            return None
        try:
            record = decode(ExampleRecord, value)
            x = np.asarray(decode_embedding(record.embedding), dtype=np.float32)
        except RecordError as exc:
            self._skip(offset, exc)
            return None
        return self.add(offset, record, x)

    def apply_many(self, records: Iterable[tuple[int, bytes | None, bytes | None]]) -> None:
        """:meth:`apply` each ``(offset, key, value)`` in order, the embeddings decoded in one go (a
        worker's start reads every example: 30,000 at 1000 labels)."""
        decoded: list[tuple[int, bytes | None, ExampleRecord | None]] = []
        for offset, key, value in records:
            if value is None:
                decoded.append((offset, key, None))
                continue
            try:
                decoded.append((offset, key, decode(ExampleRecord, value)))
            except RecordError as exc:
                self._skip(offset, exc)
        vectors = iter(decode_embeddings([r.embedding for _, _, r in decoded if r is not None]))
        for offset, key, record in decoded:
            if record is None:
                self.apply(offset, key, None)  # a tombstone
                continue
            x = next(vectors)
            if isinstance(x, RecordError):
                self._skip(offset, x)
            else:
                self.add(offset, record, x)

    def _skip(self, offset: int, reason: RecordError) -> None:
        """A record that cannot be used: counted and logged, its offset read."""
        self.next_offset = max(self.next_offset, offset + 1)
        self.last = None  # its bytes are not kept: no checkpoint names it
        log.warning("examples topic offset %d: skipped (%s)", offset, reason)
        self.skipped += 1

    def add(self, offset: int, record: ExampleRecord, x: NDArray[np.float32]) -> ExampleRecord | None:
        """Apply an example written at ``offset`` that is known already (``x``: its embedding): what
        :meth:`apply` does once it decoded the record (None when it is skipped)."""
        self.next_offset = max(self.next_offset, offset + 1)
        self.last = (offset, record.id.encode(), record)
        if self.embedder is not None and record.embedder not in ("", self.embedder):
            self.skipped += 1
            return None
        with self._lock:
            if self._dim == 0:
                self._dim = x.size
            if x.size != self._dim:
                self.skipped += 1
                return None
            self._drop(record.id)
            if self._rows and offset < self._rows[-1][0]:
                self._ordered = False
            self._append(x)
            self._live[record.id] = len(self._rows)
            self._rows.append((offset, record.id, record.text, record.label, record.source))
            self._index = None
        return record

    def _drop(self, example_id: str) -> None:
        position = self._live.pop(example_id, None)
        if position is not None:
            self._dead.add(position)

    def _append(self, x: NDArray[np.float32]) -> None:
        n = len(self._rows)
        if n >= self._X.shape[0]:  # grow by doubling: appends stay cheap
            grown = np.zeros((max(64, 2 * n), self._dim), dtype=np.float32)
            if n:
                grown[:n] = self._X[:n]
            self._X = grown
        self._X[n] = x

    def rows(
        self,
        before: int | None = None,
        *,
        start: int | None = None,
        sources: frozenset[str] | None = None,
        where: Callable[[int, str, str], bool] | None = None,
    ) -> TrainingRows:
        """Live examples in offset order: with an offset below ``before`` (all when None) and at or
        after ``start``, of some ``sources``, and for which ``where(offset, id, source)`` holds."""
        with self._lock:
            # rows are appended in offset order: those from ``start`` on are a tail, found by bisection
            # (the leader asks for what it has not learned four times a second: a scan of every row
            # took 5.3-6.0 ms of the event loop each time at 30,000 examples; 0.01-0.1 ms now)
            first = (
                0
                if start is None or not self._ordered
                else bisect.bisect_left(self._rows, start, key=_offset)
            )
            keep = [
                i
                for i, (offset, example_id, _text, _label, source) in enumerate(self._rows[first:], first)
                if i not in self._dead
                and (before is None or offset < before)
                and (start is None or offset >= start)
                and (sources is None or source in sources)
                and (where is None or where(offset, example_id, source))
            ]
            X = self._X[keep] if keep else np.zeros((0, self._dim), dtype=np.float32)
            picked = [self._rows[i] for i in keep]
        return TrainingRows(
            X=X,
            ids=tuple(r[1] for r in picked),
            texts=tuple(r[2] for r in picked),
            labels=tuple(r[3] for r in picked),
            sources=tuple(r[4] for r in picked),
            offsets=np.asarray([r[0] for r in picked], dtype=np.int64),
        )

    def since(self, offset: int, sources: frozenset[str]) -> TrainingRows:
        """Live examples of ``sources`` at or after ``offset`` (what the learner has not learned yet)."""
        return self.rows(start=offset, sources=sources)

    def index(self) -> ExampleIndex:
        """Every live example, indexed by label (cached until the store changes)."""
        cached = self._index
        if cached is None:
            rows = self.rows()
            cached = ExampleIndex.build(rows.X, rows.texts, rows.labels)
            self._index = cached
        return cached

    def label_counts(self) -> Counter[str]:
        """Live examples per label."""
        with self._lock:
            return Counter(self._rows[i][3] for i in self._live.values())

    def ids_of(self, label: str) -> list[str]:
        """Ids of the live examples of ``label`` (to tombstone them)."""
        with self._lock:
            return [example_id for example_id, i in self._live.items() if self._rows[i][3] == label]
