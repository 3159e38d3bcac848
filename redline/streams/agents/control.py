"""The control step: operators change the label set at run time through ``redline.control``.

``add_label`` embeds the command's examples and calls the model's own ``add_label`` (which retrains
only the subset the label joins) on a copy that is then swapped in, like learning does. Every command
ends as one :class:`Event` on ``redline.events``: *applied*, or *rejected* with the reason.
"""

from __future__ import annotations

import copy
import logging
import time
import uuid
from typing import Any

import numpy as np

from redline.errors import RecordError
from redline.schemas import ControlCommand, Event, decode, encode
from redline.streams.agents import collaborators as co
from redline.streams.agents import learning
from redline.streams.agents.dead_letters import Outgoing, dead_letter

log = logging.getLogger(__name__)


def _event(command: ControlCommand, kind: str, reason: str) -> Event:
    return Event(
        id=uuid.uuid4().hex,
        kind=kind,  # type: ignore[arg-type]
        subject=f"{command.command} {command.label}",
        reason=reason,
        command_id=command.id,
        model_version=co.model_version,
        at=time.time(),
    )


def apply_command(command: ControlCommand) -> Event:
    """Apply one command to the installed model (runs on the thread that changes the model)."""
    current: Any = co.model
    if current is None or co.embedder is None:
        return _event(command, "rejected", "no model loaded")
    if command.label in {str(c) for c in current.classes_}:
        return _event(command, "rejected", f"label {command.label!r} already exists")
    examples = [e for e in command.examples if e.strip()]
    started = time.perf_counter()
    try:
        X = np.asarray(co.embedder.encode(examples), dtype=np.float32)
        updated = copy.deepcopy(current)
        updated.add_label(command.label, X, examples, description=command.description)
    except Exception as exc:
        log.warning("add_label %r failed: %r", command.label, exc)
        return _event(command, "rejected", f"{exc!r}"[:500])
    learning.swap_model(current, updated, learning.buffer.next_version())
    seconds = time.perf_counter() - started
    return _event(command, "applied", f"added with {len(examples)} examples in {seconds:.2f} s")


def control_message(message: Any) -> list[Outgoing]:
    """The whole step for one raw ``redline.control`` message."""
    try:
        command = decode(ControlCommand, message.value)
    except RecordError as exc:
        letter = dead_letter(message, str(exc), stage="control")
        return [Outgoing("deadletter", message.key, encode(letter))]
    event = apply_command(command)
    return [Outgoing("events", command.id.encode("utf-8"), encode(event))]
