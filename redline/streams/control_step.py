"""The control step: operators change the label set at run time through ``redline.control``.

Every command ends as one :class:`~redline.schemas.Event`: *applied* (with the engine that results)
or *rejected* with the reason. The change itself is the engine's (copy-on-write), so the caller swaps
engines only when the command was applied.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

import numpy as np

from redline.adapters.embedder import Embedder
from redline.core.engine import StreamEngine
from redline.schemas import ControlCommand, Event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ControlOutcome:
    """What a command did: the new engine (None when nothing changed) and the event to publish."""

    engine: StreamEngine | None
    event: Event


def apply_command(
    command: ControlCommand, engine: StreamEngine, embedder: Embedder, version: str
) -> ControlOutcome:
    """Apply one command to ``engine``; the new engine gets ``version``."""
    if command.label in engine.classes:
        return ControlOutcome(
            None, _event(command, "rejected", f"label {command.label!r} already exists", engine)
        )
    examples = [e for e in command.examples if e.strip()]
    started = time.perf_counter()
    try:
        X = np.asarray(embedder.encode(examples), dtype=np.float32)
        updated = engine.add_label(command.label, X, examples, command.description, version)
    except Exception as exc:
        log.warning("add_label %r failed: %r", command.label, exc)
        return ControlOutcome(None, _event(command, "rejected", f"{exc!r}"[:500], engine))
    seconds = time.perf_counter() - started
    reason = f"added with {len(examples)} examples in {seconds:.2f} s"
    return ControlOutcome(updated, _event(command, "applied", reason, updated))


def _event(command: ControlCommand, kind: str, reason: str, engine: StreamEngine) -> Event:
    return Event(
        id=uuid.uuid4().hex,
        kind=kind,  # type: ignore[arg-type]
        subject=f"{command.command} {command.label}",
        reason=reason,
        command_id=command.id,
        model_version=engine.version,
        at=time.time(),
    )
