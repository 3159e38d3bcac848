"""The Faust agents themselves, driven through ``agent.test_context()`` (no broker).

Messages are put on each agent's source channel; what the worker sends is captured and fed to the next
agent, until every id has its one result.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from redline.schemas import DeadLetter, LabelResult, decode
from redline.streams.agents import register_agents
from redline.streams.app import create_app


@pytest.fixture
def app_and_agents(world):
    app, topics = create_app(world.worker.settings)
    agents = register_agents(app, topics, world.worker)
    app.finalize()
    app.flow_control.resume()
    return app, agents


async def _drain(agent_ctx, items, sent, expect, topics=None):
    """Put ``items`` on an agent and wait until ``expect`` outputs (on ``topics``, default any) have been
    captured."""
    start = len(sent)
    for key, value in items:
        await agent_ctx.put(value, key=key)
    for _ in range(400):
        if sum(topics is None or o.topic in topics for o in sent[start:]) >= expect:
            break
        await asyncio.sleep(0.025)
    return sent[start:]


def test_the_three_agents_are_registered(world, app_and_agents) -> None:
    app, agents = app_and_agents
    assert {a.name for a in app.agents.values()} == {"redline.classify", "redline.judge", "redline.resolve"}
    assert set(agents) == {"classify", "judge", "resolve"}


async def test_texts_flow_through_all_agents(world, app_and_agents) -> None:
    _, agents = app_and_agents
    sent = world.sent
    valid = {f"id{i}": t for i, t in enumerate(world.truth)}
    items = [(k.encode(), json.dumps({"id": k, "text": t}).encode()) for k, t in valid.items()]
    items += [(b"bad1", b"{oops"), (b"bad2", json.dumps({"id": "bad2", "text": ""}).encode())]
    async with agents["classify"].test_context() as classify:
        out = await _drain(classify, items, sent, 2 * len(valid) + 2)
    labels = [o for o in out if o.topic == "labels"]
    pending = [o for o in out if o.topic == "judge_requests"]
    dead = [decode(DeadLetter, o.value) for o in out if o.topic == "deadletter"]
    assert sorted(d.id for d in dead) == ["bad1", "bad2"]
    assert pending, "the synthetic data has uncertain texts"
    rounds = 0
    while pending:
        rounds += 1
        async with agents["judge"].test_context() as judge:  # each question: the next one or the result
            items = [(o.key, o.value) for o in pending]
            out = await _drain(judge, items, sent, len(pending), ("labels", "judge_requests"))
        labels += [o for o in out if o.topic == "labels"]
        pending = [o for o in out if o.topic == "judge_requests"]
        assert rounds <= 3
    results = [decode(LabelResult, o.value) for o in labels]
    assert Counter(r.id for r in results) == Counter(list(valid))  # exactly one result per valid id


async def test_the_resolve_agent_drains_verdict_records_of_earlier_versions(world, app_and_agents) -> None:
    from redline.schemas import JudgeAttempt, JudgeRequest, JudgeVerdict, encode

    _, agents = app_and_agents
    sent = world.sent
    items = [
        (f"id{i}".encode(), json.dumps({"id": f"id{i}", "text": t}).encode())
        for i, t in enumerate(world.truth)
    ]
    async with agents["classify"].test_context() as classify:
        out = await _drain(classify, items, sent, 2 * len(items))
    requests = [decode(JudgeRequest, o.value) for o in out if o.topic == "judge_requests"]
    assert requests
    old = [
        (r.id.encode(), encode(JudgeVerdict(request=r, attempt=JudgeAttempt(r.label, True), judge="old")))
        for r in requests
    ]
    async with agents["resolve"].test_context() as resolve:
        out = await _drain(resolve, old, sent, len(old), ("labels",))
    results = {r.id: r for r in (decode(LabelResult, o.value) for o in out if o.topic == "labels")}
    assert set(results) == {r.id for r in requests}
    for request in requests:  # a "yes" about the top candidate: validated with it
        result = results[request.id]
        assert (result.status, result.label, result.judge.judge) == ("validated", request.label, "old")
