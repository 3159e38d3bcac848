"""The operators' commands on ``redline.control`` as the leader applies them: add, remove or describe a
label, refit, change the judge policy; each applied command publishes the changed model, each one
answers with an event (``applied``, ``rejected`` or ``info``) keyed by the command's id."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from redline.core.classifier import RedClassifier
from redline.core.engine import JudgePolicy
from redline.errors import ConfigError, InputDataError, ModelError, RecordError
from redline.schemas import ControlCommand, ExampleRecord, decode, encode, encode_embedding
from redline.streams.messages import dead_letter
from redline.streams.refit import refit_params, training_set

if TYPE_CHECKING:
    from redline.streams.leader import Leader

log = logging.getLogger(__name__)


async def apply_command(leader: Leader, record: Any) -> None:
    """Apply one record of ``redline.control`` (an undecodable one is dead-lettered and rejected; a
    command applied before, by its id, is not applied again); publishes the changed model."""
    worker = leader.worker
    try:
        command = decode(ControlCommand, record.value)
    except RecordError as exc:
        letter = dead_letter(record, str(exc), "control")
        await worker.write(worker.settings.topics.deadletter, [(letter.key, letter.value)])
        await leader.event("rejected", "control", f"undecodable command: {exc}", command_id=None)
        return
    assert leader.info is not None
    if command.id in leader.info.applied_commands:
        await leader.event("info", command.command, "already applied (same command id)", command.id)
        return
    try:
        reason = await _change(leader, command)
    except (InputDataError, ConfigError, ModelError) as exc:
        await leader.event("rejected", f"{command.command} {command.label}".strip(), str(exc), command.id)
        return
    leader.info = replace(leader.info, applied_commands=leader.info.remembering(command.id))
    if command.command != "set_policy" and leader.refit_job is not None:
        # its parameters are of the model before this change (the label added, removed or described
        # would be undone): dropped; the next refit starts from this model
        leader.refit_job = None
        log.warning("the background refit was dropped: %s changed the model meanwhile", command.command)
    published = await leader.publish(reason, command_id=command.id)
    await leader.event("applied", f"{command.command} {command.label}".strip(), reason, command.id,
                      version=published.version)  # fmt: skip


async def _change(leader: Leader, command: ControlCommand) -> str:
    """Change the learning model (and the examples) as ``command`` says; returns what was done."""
    model = leader.model
    assert model is not None and leader.info is not None
    labels = set(model.classes_.tolist())
    name = command.label
    loop = asyncio.get_running_loop()
    if command.command == "add_label":
        if name in labels:
            raise InputDataError(f"label {name!r} already exists")
        texts = [e for e in command.examples if e.strip()]
        X = await loop.run_in_executor(leader.worker.learn_thread, leader.worker.embedder.encode, texts)
        await _write_examples(leader, command, name, np.asarray(X, dtype=np.float32), texts)
        await loop.run_in_executor(
            leader.worker.learn_thread,
            lambda: model.add_label(name, X, texts, description=command.description),
        )
        return f"added {name!r} with {len(texts)} examples"
    if command.command in ("update_description", "remove_label") and name not in labels:
        raise InputDataError(f"no label {name!r}")
    if command.command == "update_description":
        model.set_description(name, command.description)
        return f"description of {name!r} updated"
    if command.command == "remove_label":
        await loop.run_in_executor(leader.worker.learn_thread, model.remove_label, name)
        ids = leader.worker.store.ids_of(name)
        await leader.worker.write(leader.worker.settings.topics.examples, [(i.encode(), None) for i in ids])
        return f"removed {name!r}; {len(ids)} examples tombstoned"
    if command.command == "retrain":
        rows = leader.worker.store.rows()
        params = await loop.run_in_executor(
            leader.processes(),
            refit_params,
            model.params_state(),
            rows.X,
            list(rows.texts),
            list(rows.labels),
        )
        leader.model = await loop.run_in_executor(
            leader.worker.learn_thread, RedClassifier.from_params, params, training_set(rows)
        )
        leader.learned_offset = leader.worker.store.next_offset
        return f"refitted on {len(rows)} examples"
    policy = JudgePolicy(**{**dict(leader.info.policy), **dict(command.policy)})
    leader.info = replace(leader.info, policy=policy.to_dict())
    return "policy " + ", ".join(f"{k}={v}" for k, v in sorted(command.policy.items()))


async def _write_examples(
    leader: Leader, command: ControlCommand, label: str, X: np.ndarray, texts: list[str]
) -> None:
    worker = leader.worker
    embedder = str(getattr(worker.embedder, "model_id", "") or "")
    records = [
        ExampleRecord(
            id=f"control:{command.id}:{i}",
            text=t,
            label=label,
            source="control",
            embedder=embedder,
            embedding=encode_embedding(x),
            model_version=worker.engine.version,
            at=time.time(),
        )
        for i, (t, x) in enumerate(zip(texts, X, strict=True))
    ]
    await worker.write(worker.settings.topics.examples, [(r.id.encode(), encode(r)) for r in records])
    await leader.wait_for_store(len(records))
