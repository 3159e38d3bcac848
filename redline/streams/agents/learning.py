"""The learn step: judge-validated texts become training data, learned in batches (R.E.D. step 5).

Results with status *validated* or *corrected* carry a label the judge confirmed; they are buffered
here and, every ``learn_every`` of them, embedded and passed to the model's own ``learn`` (which
retrains only what the new examples touch, see ``RedClassifier.learn``). Every change of the model
(learning here, a label added through ``redline.control``) gives it a new version ``<loaded>#<n>``,
so every result names the model that produced it.

Learning never blocks scoring: it trains a copy of the model on its own thread and then swaps the
copy in (one reference assignment), so batches keep being scored by the current model meanwhile.
"""

from __future__ import annotations

import copy
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from redline.errors import RecordError
from redline.schemas import Event, LabelResult, decode
from redline.streams.agents import collaborators as co
from redline.streams.agents.dead_letters import Outgoing

log = logging.getLogger(__name__)

LEARNABLE = frozenset({"validated", "corrected"})


@dataclass
class LearningBuffer:
    """Judge-confirmed (text, label) pairs waiting to be learned, and what was learned so far."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    learned: int = 0
    updates: int = 0
    base_version: str | None = None

    def next_version(self) -> str:
        """Count one more change of the model and return its new version string."""
        if self.base_version is None:
            self.base_version = co.model_version
        self.updates += 1
        return f"{self.base_version}#{self.updates}"


#: this worker's buffer (tests replace it)
buffer = LearningBuffer()


def current_snapshot() -> bytes | None:
    """The installed model as one snapshot blob for ``redline.models`` (None when none is loaded)."""
    from redline.streams.model_snapshots import ModelLineage, snapshot_bytes

    model = co.model
    if model is None:
        return None
    lineage = ModelLineage(
        version=co.model_version,
        base_version=buffer.base_version or co.model_version,
        updates=buffer.updates,
        learned=buffer.learned,
    )
    embedder = getattr(co.embedder, "model_id", None)
    return snapshot_bytes(model, lineage, {"embedder": embedder} if embedder else None)


def restore(model: Any, version: str, base_version: str, updates: int, learned: int) -> None:
    """Continue from a published model: install it and resume its version count."""
    current = co.model
    buffer.base_version, buffer.updates, buffer.learned = base_version, updates, learned
    swap_model(current, model, version)


def swap_model(current: Any, updated: Any, version: str) -> None:
    """Make ``updated`` the model every agent uses from now on (it replaces ``current``)."""
    if co.examples is current:
        co.examples = updated
    descriptions = getattr(updated, "descriptions_", None)
    if isinstance(descriptions, dict):
        co.descriptions = {**co.descriptions, **descriptions}
    co.model, co.model_version = updated, version


def note(outgoing: list[Outgoing]) -> int:
    """Buffer the judge-confirmed results among ``outgoing``; returns how many were added."""
    added = 0
    for item in outgoing:
        if item.topic != "labels":
            continue
        try:
            result = decode(LabelResult, item.value)
        except RecordError:  # pragma: no cover - we encoded it ourselves
            continue
        if result.status in LEARNABLE and result.label is not None:
            buffer.texts.append(result.text)
            buffer.labels.append(result.label)
            added += 1
    return added


def due(learn_every: int) -> bool:
    """True when learning is on and enough confirmed texts are waiting."""
    return learn_every > 0 and len(buffer.texts) >= learn_every


def learn_pending() -> Event | None:
    """Embed the buffered texts and let the model learn them; an ``Event`` says what changed.

    Runs on the model thread. On failure the buffer is kept (the next batch retries) and the event
    says why; results already emitted are unaffected.
    """
    if not buffer.texts or co.model is None or co.embedder is None:
        return None
    texts, labels = list(buffer.texts), list(buffer.labels)
    started = time.perf_counter()
    current: Any = co.model
    try:
        X = np.asarray(co.embedder.encode(texts), dtype=np.float32)
        updated = copy.deepcopy(current)  # scoring goes on with the current model meanwhile
        updated.learn(X, texts, labels)
    except Exception as exc:
        log.warning("learning %d validated texts failed: %r", len(texts), exc)
        return Event(
            id=uuid.uuid4().hex, kind="rejected", subject="learn", reason=f"{exc!r}"[:500],
            model_version=co.model_version, at=time.time(),
        )  # fmt: skip
    del buffer.texts[: len(texts)], buffer.labels[: len(labels)]
    buffer.learned += len(texts)
    swap_model(current, updated, buffer.next_version())
    seconds = time.perf_counter() - started
    return Event(
        id=uuid.uuid4().hex,
        kind="applied",
        subject="learn",
        reason=f"learned {len(texts)} judge-validated texts ({buffer.learned} in all) in {seconds:.2f} s",
        model_version=co.model_version,
        at=time.time(),
    )
