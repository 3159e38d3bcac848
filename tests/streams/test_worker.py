"""The worker object: each agent's step end to end (decode, engine, send), learning and control."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np

from redline.adapters.snapshot_store import snapshot_from_bytes
from redline.core.classifier import RedClassifier
from redline.schemas import ControlCommand, DeadLetter, Event, LabelResult, decode, encode


def _texts(world) -> list:
    from conftest import msg

    return [
        msg(json.dumps({"id": f"id{i}", "text": t}).encode(), f"id{i}".encode(), i)
        for i, t in enumerate(world.truth)
    ]


async def _run_to_results(world, messages) -> list[LabelResult]:
    """Drive classify -> judge -> resolve until every text has its result; returns the results."""
    from conftest import msg

    worker, sent = world.worker, world.sent
    await worker.classify(messages)
    done = 0
    while True:
        pending = [o for o in sent[done:] if o.topic in ("judge_requests", "judge_verdicts")]
        done = len(sent)
        if not pending:
            break
        for o in pending:
            m = msg(o.value, o.key, topic=f"redline.{o.topic}")
            await (worker.judge_message(m) if o.topic == "judge_requests" else worker.resolve_message(m))
    return [decode(LabelResult, o.value) for o in sent if o.topic == "labels"]


async def test_every_text_ends_once_and_judged_ones_are_right(world) -> None:
    results = await _run_to_results(world, _texts(world))
    assert Counter(r.id for r in results) == Counter(f"id{i}" for i in range(len(world.truth)))
    for r in results:
        truth = world.truth[r.text]
        if r.judge is not None:  # a perfect judge: judged texts are right
            assert r.label == truth and r.status in ("validated", "corrected")
        else:
            assert r.status == "accepted"
    assert any(r.judge is not None for r in results)
    page = world.worker.stats_page()
    assert page["texts"] == len(world.truth) and page["sent"]["labels"] == len(results)
    assert page["sent"]["judge_verdicts"] == page["sent"]["judge_requests"] > 0  # every counter moves


async def test_confirmed_results_are_learned_in_the_background_and_published(tmp_path) -> None:
    from conftest import make_world

    world = make_world(tmp_path, learn_every=1)
    worker = world.worker
    text = "between balance transfer"
    X = world.embedder.encode([text])
    before = worker.engine.model.predict_proba(X, [text])[0, list(worker.engine.classes).index("transfer")]
    calls = world.embedder.calls
    results = await _run_to_results(world, _texts(world))
    while (worker._update is not None and not worker._update.done()) or worker.learner.waiting:
        if worker._update is None or worker._update.done():
            worker.start_update()
        await worker._update
    confirmed = [r for r in results if r.status in ("validated", "corrected")]
    events = [decode(Event, o.value) for o in world.sent if o.topic == "events"]
    assert confirmed and events and {e.kind for e in events} == {"applied"}
    assert worker.stats.learned == len(confirmed) == worker.lineage.learned
    assert worker.engine.version == f"test-model#{worker.lineage.updates}" == events[-1].model_version
    assert world.embedder.calls == calls + 1  # one batch embedded; learning never embedded a text again
    after = worker.engine.model.predict_proba(X, [text])[0, list(worker.engine.classes).index("transfer")]
    assert after > before
    assert world.model.predict_proba(X, [text])[0, list(world.model.classes_).index("transfer")] == before
    # every update was published to the models topic, the last one restores the current model
    blobs = [o.value for o in world.sent if o.topic == "models"]
    assert len(blobs) == len(events)
    snapshot = snapshot_from_bytes(blobs[-1])
    assert snapshot.metadata["version"] == worker.engine.version
    assert snapshot.metadata["base_version"] == "test-model" and snapshot.metadata["embedder"] == "table@1"
    restored = RedClassifier.from_state(snapshot.state)
    np.testing.assert_allclose(
        restored.predict_proba(X, [text]), worker.engine.model.predict_proba(X, [text])
    )
    worker.close()


async def test_a_failed_update_keeps_its_examples(tmp_path, monkeypatch) -> None:
    from conftest import make_world

    world = make_world(tmp_path, learn_every=1)
    worker = world.worker
    await _run_to_results(world, _texts(world))
    if worker._update is not None:
        await worker._update

    def broken(*args, **kwargs):
        raise ValueError("solver exploded")

    waiting = worker.learner.waiting
    worker.learner.add(__import__("redline.streams.resolve_step", fromlist=["x"]).LearnedExample(
        np.ones(16, dtype=np.float32) / 4, "clear alarm", "alarm"))  # fmt: skip
    monkeypatch.setattr(type(worker.engine), "learn", broken)
    version = worker.engine.version
    await worker.start_update()
    events = [decode(Event, o.value) for o in world.sent if o.topic == "events"]
    assert events[-1].kind == "rejected" and "solver exploded" in events[-1].reason
    assert worker.learner.waiting == waiting + 1 and worker.engine.version == version
    assert worker.stats.failed_updates == 1
    worker.close()


async def test_control_adds_a_label_publishes_and_rejects_with_events(world) -> None:
    from conftest import msg

    worker = world.worker
    command = ControlCommand(id="c1", command="add_label", label="music", examples=["play a", "play b"])
    await worker.control_message(msg(encode(command), b"c1", topic="redline.control"))
    [event] = [decode(Event, o.value) for o in world.sent if o.topic == "events"]
    assert event.kind == "applied" and event.model_version == "test-model#1" == worker.engine.version
    assert "music" in worker.engine.classes
    assert [o.topic for o in world.sent].count("models") == 1
    again = ControlCommand(id="c2", command="add_label", label="music", examples=["x y", "z w"])
    await worker.control_message(msg(encode(again), b"c2", topic="redline.control"))
    bad = msg(b'{"id": "c3", "command": "add_label", "label": "x", "examples": ["only one"]}', b"c3")
    await worker.control_message(bad)
    events = [decode(Event, o.value) for o in world.sent if o.topic == "events"]
    assert [e.kind for e in events] == ["applied", "rejected"] and "already exists" in events[1].reason
    [letter] = [decode(DeadLetter, o.value) for o in world.sent if o.topic == "deadletter"]
    assert letter.stage == "control" and "at least 2" in letter.reason
    assert worker.stats_page()["sent"]["deadletter"] == 1
    assert worker.engine.version == "test-model#1"  # a rejected command changes nothing


async def test_malformed_internal_messages_become_dead_letters(world) -> None:
    from conftest import msg

    await world.worker.judge_message(msg(b'{"id": "t"}', b"t", topic="redline.judge.requests"))
    await world.worker.resolve_message(msg(b"{", b"u", topic="redline.judge.verdicts"))
    letters = [decode(DeadLetter, o.value) for o in world.sent]
    assert [(d.stage, d.id) for d in letters] == [("judge", "t"), ("resolve", "u")]
