"""The learn step: judge-confirmed results are learned in batches; the model version says so."""

from __future__ import annotations

import numpy as np
import pytest

from redline.schemas import Candidate, LabelResult, encode
from redline.streams.agents import collaborators, learning
from redline.streams.agents.dead_letters import Outgoing


@pytest.fixture(autouse=True)
def fresh_buffer(monkeypatch):
    monkeypatch.setattr(learning, "buffer", learning.LearningBuffer())


def _out(text: str, label: str | None, status: str) -> Outgoing:
    result = LabelResult(
        id=text, text=text, label=label, status=status,  # type: ignore[arg-type]
        confidence=0.4, candidates=[Candidate("balance", 0.4)], model_version="m",
    )  # fmt: skip
    return Outgoing("labels", text.encode(), encode(result))


def test_only_judge_confirmed_results_are_buffered() -> None:
    added = learning.note(
        [
            _out("a", "x", "accepted"),
            _out("b", "y", "validated"),
            _out("c", "z", "corrected"),
            _out("d", None, "unresolved"),
            Outgoing("judge_requests", b"e", b"{}"),
        ]
    )
    assert added == 2 and learning.buffer.texts == ["b", "c"] and learning.buffer.labels == ["y", "z"]
    assert learning.due(2) and not learning.due(3) and not learning.due(0)


def test_learning_moves_the_model_towards_the_confirmed_label(world) -> None:
    text = "between balance transfer"
    X = world.embedder.encode([text])
    idx = list(world.model.classes_).index("transfer")
    before = world.model.predict_proba(X, [text])[0, idx]
    learning.note([_out(text, "transfer", "corrected")] * 3)
    event = learning.learn_pending()
    after = collaborators.model.predict_proba(X, [text])[0, idx]
    assert event is not None and event.kind == "applied" and "learned 3" in event.reason
    assert after > before
    # copy on write: the model that was scoring meanwhile is untouched, the new one was swapped in
    assert collaborators.model is not world.model and collaborators.examples is collaborators.model
    assert world.model.predict_proba(X, [text])[0, idx] == before
    assert collaborators.model_version == "test-model#1" == event.model_version
    assert learning.buffer.texts == [] and learning.buffer.learned == 3
    learning.note([_out("clear alarm", "alarm", "validated")])
    learning.learn_pending()
    assert collaborators.model_version == "test-model#2"  # versions count changes of the loaded model
    assert learning.buffer.learned == 4


def test_a_failed_update_keeps_the_buffer(world, monkeypatch) -> None:
    def broken(texts):
        raise RuntimeError("embedder down")

    monkeypatch.setattr(world.embedder, "encode", broken)
    learning.note([_out("clear alarm", "alarm", "validated")])
    event = learning.learn_pending()
    assert event is not None and event.kind == "rejected" and "embedder down" in event.reason
    assert learning.buffer.texts == ["clear alarm"] and collaborators.model_version == "test-model"


def test_nothing_to_learn_is_no_event(world) -> None:
    assert learning.learn_pending() is None
    assert np.isfinite(world.model.predict_proba(world.embedder.encode(["x"]), ["x"])).all()


def test_a_published_snapshot_restores_model_and_version(world) -> None:
    from redline.adapters.snapshot_store import snapshot_from_bytes
    from redline.core.classifier import RedClassifier

    learning.note([_out("between balance transfer", "transfer", "corrected")] * 2)
    learning.learn_pending()
    blob = learning.current_snapshot()
    snapshot = snapshot_from_bytes(blob)
    meta = snapshot.metadata
    assert meta["version"] == "test-model#1" and meta["base_version"] == "test-model"
    assert (snapshot.metadata["updates"], snapshot.metadata["learned"]) == (1, 2)
    restored = RedClassifier.from_state(snapshot.state)
    X = world.embedder.encode(["between balance transfer", "clear alarm"])
    texts = ["between balance transfer", "clear alarm"]
    np.testing.assert_allclose(restored.predict_proba(X, texts), collaborators.model.predict_proba(X, texts))

    learning.buffer = learning.LearningBuffer()  # a new worker process...
    collaborators.model, collaborators.model_version = world.model, "test-model"
    collaborators.examples = world.model
    learning.restore(restored, "test-model#1", "test-model", 1, 2)  # ...resumes from the snapshot
    assert collaborators.model is restored and collaborators.examples is restored
    learning.note([_out("clear alarm", "alarm", "validated")])
    learning.learn_pending()
    assert collaborators.model_version == "test-model#2" and learning.buffer.learned == 3
