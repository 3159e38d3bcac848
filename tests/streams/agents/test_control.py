"""The control step: labels are added at run time; every command ends as one event."""

from __future__ import annotations

import numpy as np
import pytest

from redline.schemas import ControlCommand, DeadLetter, Event, LabelResult, TextIn, decode, encode
from redline.streams.agents import collaborators, learning
from redline.streams.agents.classify import score_texts
from redline.streams.agents.control import apply_command, control_message


@pytest.fixture(autouse=True)
def fresh_buffer(monkeypatch):
    monkeypatch.setattr(learning, "buffer", learning.LearningBuffer())


def _add(label: str, examples: list[str], cid: str = "c1") -> ControlCommand:
    return ControlCommand(
        id=cid, command="add_label", label=label, description=f"about {label}", examples=examples
    )


def test_add_label_makes_the_new_label_predictable(world) -> None:
    # texts near a direction no existing label covers
    examples = [f"music example {i}" for i in range(6)]
    rng_texts = [*examples, "play some music"]
    direction = np.random.default_rng(7).normal(size=16)
    for i, t in enumerate(rng_texts):
        v = direction + 0.1 * np.random.default_rng(i).normal(size=16)
        world.embedder.table[t] = v / np.linalg.norm(v)
    event = apply_command(_add("music", examples))
    assert event.kind == "applied" and event.command_id == "c1" and "6 examples" in event.reason
    assert "music" in list(collaborators.model.classes_)
    assert collaborators.model_version == "test-model#1" == event.model_version
    assert collaborators.descriptions["music"] == "about music"
    assert "music" not in list(world.model.classes_)  # the old model was not touched
    [(_, result)] = score_texts([TextIn("m", "play some music")])
    assert isinstance(result, LabelResult) and result.label == "music"


def test_existing_label_is_rejected_with_a_reason(world) -> None:
    event = apply_command(_add("balance", ["a b", "c d"]))
    assert event.kind == "rejected" and "already exists" in event.reason
    assert collaborators.model is world.model and collaborators.model_version == "test-model"


def test_no_model_is_rejected(monkeypatch) -> None:
    monkeypatch.setattr(collaborators, "model", None)
    assert apply_command(_add("x", ["a", "b"])).reason == "no model loaded"


def test_control_messages_end_as_one_event_or_dead_letter(world, msg) -> None:
    [out] = control_message(
        msg(encode(_add("balance", ["a", "b"], cid="c9")), b"c9", topic="redline.control")
    )
    assert out.topic == "events" and decode(Event, out.value).command_id == "c9"
    bad = msg(b'{"id": "c2", "command": "add_label", "label": "x", "examples": ["only one"]}', b"c2")
    [out] = control_message(bad)
    letter = decode(DeadLetter, out.value)
    assert out.topic == "deadletter" and letter.stage == "control" and "at least 2" in letter.reason
