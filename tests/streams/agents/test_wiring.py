"""The Faust agents themselves, driven through ``agent.test_context()`` (no broker).

Messages are put on each agent's source channel; what the agents send is captured at the
``send_all`` boundary and fed to the next agent, until every id has its one result.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from redline.schemas import DeadLetter, Event, LabelResult, decode
from redline.streams.agents import collaborators, learning, wiring
from redline.streams.app import create_app
from redline.streams.settings import StreamSettings


@pytest.fixture
def app_and_agents(tmp_path, monkeypatch):
    monkeypatch.setattr(learning, "buffer", learning.LearningBuffer())
    sent: list = []

    async def capture(topics, outgoing):
        sent.extend(outgoing)

    monkeypatch.setattr(wiring, "send_all", capture)
    settings = StreamSettings(
        data_dir=tmp_path / "worker", batch_size=4, batch_within_s=0.05, judge_concurrency=2, learn_every=1
    )
    app, topics = create_app(settings, agents=False)
    agents = wiring.register_agents(app, topics, settings)
    app.finalize()
    app.flow_control.resume()
    return app, agents, sent


async def _drain(agent_ctx, items, sent, expect):
    """Put ``items`` on an agent and wait until ``expect`` outputs have been captured."""
    start = len(sent)
    for key, value in items:
        await agent_ctx.put(value, key=key)
    for _ in range(400):
        if len(sent) - start >= expect:
            break
        await asyncio.sleep(0.025)
    return sent[start:]


async def test_texts_flow_through_all_agents(world, app_and_agents) -> None:
    app, agents, sent = app_and_agents
    valid = {f"id{i}": t for i, t in enumerate(world.truth)}
    items = [(k.encode(), json.dumps({"id": k, "text": t}).encode()) for k, t in valid.items()]
    items += [(b"bad1", b"{oops"), (b"bad2", json.dumps({"id": "bad2", "text": ""}).encode())]

    async with agents["classify"].test_context() as classify:
        # every valid text: a prediction + one next message; every bad one: a dead letter
        out = await _drain(classify, items, sent, 2 * len(valid) + 2)
    labels = [o for o in out if o.topic == "labels"]
    pending = [o for o in out if o.topic == "judge_requests"]
    dead = [decode(DeadLetter, o.value) for o in out if o.topic == "deadletter"]
    assert sorted(d.id for d in dead) == ["bad1", "bad2"]
    assert pending, "the synthetic data has uncertain texts"

    rounds = 0
    while pending:
        rounds += 1
        async with agents["judge"].test_context() as judge:
            verdicts = await _drain(judge, [(o.key, o.value) for o in pending], sent, len(pending))
        async with agents["resolve"].test_context() as resolve:
            out = await _drain(resolve, [(o.key, o.value) for o in verdicts], sent, len(verdicts))
        labels += [o for o in out if o.topic == "labels"]
        pending = [o for o in out if o.topic == "judge_requests"]
        assert rounds <= 3
    results = [decode(LabelResult, o.value) for o in labels]
    assert Counter(r.id for r in results) == Counter(list(valid))  # exactly one result per valid id
    by_text = {r.text: r for r in results}
    for text, label in world.truth.items():  # the judge is perfect: judged texts are right
        r = by_text[text]
        if r.judge is not None:
            assert r.label == label and r.status in ("validated", "corrected")
        else:
            assert r.status == "accepted"
    # learn_every=1: judge-confirmed results are learned in the background (one update at a time;
    # what arrives meanwhile waits for the next), and each update is announced on redline.events
    learner = app.redline_learner
    while learner.busy or learning.buffer.texts:
        if not learner.busy:
            learner.start()
        await learner.task
    events = [decode(Event, o.value) for o in sent if o.topic == "events"]
    confirmed = [r for r in results if r.status in ("validated", "corrected")]
    assert confirmed and events and {e.kind for e in events} == {"applied"}
    assert learning.buffer.learned == len(confirmed)
    assert events[-1].model_version == f"test-model#{learning.buffer.updates}" == collaborators.model_version
