"""The control step: labels are added at run time; every command ends as one event."""

from __future__ import annotations

import numpy as np

from redline.schemas import ControlCommand
from redline.streams.classify_step import classify
from redline.streams.control_step import apply_command


def _add(label: str, examples: list[str], cid: str = "c1") -> ControlCommand:
    return ControlCommand(
        id=cid, command="add_label", label=label, description=f"about {label}", examples=examples
    )


def test_add_label_gives_a_new_engine_that_predicts_it(world, msg) -> None:
    examples = [f"music example {i}" for i in range(6)]
    direction = np.random.default_rng(7).normal(size=16)
    for i, t in enumerate([*examples, "play some music"]):
        v = direction + 0.1 * np.random.default_rng(i).normal(size=16)
        world.embedder.table[t] = v / np.linalg.norm(v)
    engine = world.worker.engine
    outcome = apply_command(_add("music", examples), engine, world.embedder, "test-model#1")
    event = outcome.event
    assert event.kind == "applied" and event.command_id == "c1" and "6 examples" in event.reason
    assert outcome.engine is not None and outcome.engine.version == "test-model#1" == event.model_version
    assert "music" in outcome.engine.classes and "music" not in engine.classes  # copy on write
    assert outcome.engine.descriptions["music"] == "about music"
    out = classify([msg(b'{"id": "m", "text": "play some music"}', b"m")], world.embedder, outcome.engine)
    assert b'"label":"music"' in next(o.value for o in out if o.topic == "labels").replace(b" ", b"")


def test_an_existing_label_is_rejected_with_a_reason(world) -> None:
    outcome = apply_command(_add("balance", ["a b", "c d"]), world.worker.engine, world.embedder, "v2")
    assert outcome.engine is None
    assert outcome.event.kind == "rejected" and "already exists" in outcome.event.reason
    assert outcome.event.model_version == "test-model"


def test_a_failing_change_is_rejected_not_raised(world, monkeypatch) -> None:
    def broken(texts):
        raise OSError("embedder down")

    monkeypatch.setattr(world.embedder, "encode", broken)
    outcome = apply_command(_add("music", ["a", "b"]), world.worker.engine, world.embedder, "v2")
    assert outcome.engine is None and "embedder down" in outcome.event.reason
