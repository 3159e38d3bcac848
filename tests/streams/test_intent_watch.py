"""The new-intent watch takes an unresolved text's embedding from the judge request its worker resolved
and embeds only the texts another worker resolved; the worker keeps a bounded number of them."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from redline.schemas import JudgeAttempt, JudgeRequest, JudgeVerdict, LabelResult, decode, encode
from redline.streams import worker as worker_module
from redline.streams.intent_watch import NewIntentWatch


async def _unresolved(world) -> list[LabelResult]:
    """Every text classified, every question answered "no" (verdict records): the judged texts end
    unresolved."""
    from stream_world import msg

    worker, sent = world.worker, world.sent
    texts = [msg(json.dumps({"id": f"id{i}", "text": t}).encode(), f"id{i}".encode(), i)
             for i, t in enumerate(world.truth)]  # fmt: skip
    await (await worker.classify_batch(texts))
    done = 0
    while pending := [o for o in sent[done:] if o.topic == "judge_requests"]:
        done = len(sent)
        for o in pending:
            request = decode(JudgeRequest, o.value)
            verdict = JudgeVerdict(request=request, attempt=JudgeAttempt(request.label, False), judge="no")
            m = msg(encode(verdict), request.id.encode(), topic="redline.judge.verdicts")
            await (await worker.resolve_batch([m]))
    results = [decode(LabelResult, o.value) for o in sent if o.topic == "labels"]
    return [r for r in results if r.status == "unresolved"]


async def _publish(*args) -> None:  # no cluster forms from a handful of texts
    raise AssertionError(f"nothing to publish: {args}")


async def test_the_watch_reuses_the_resolved_requests_embeddings(world) -> None:
    unresolved = await _unresolved(world)
    worker = world.worker
    assert unresolved and list(worker.unresolved_embeddings) == [r.id for r in unresolved]
    watch = NewIntentWatch(worker, _publish)
    seen: dict[str, np.ndarray] = {}
    observe = watch.detector.observe
    watch.detector.observe = lambda key, x, text: (seen.__setitem__(key, x), observe(key, x, text))[1]
    watch.start()
    other = replace(unresolved[0], id="from-another-worker", text="a text another worker resolved")
    calls = world.embedder.calls
    await watch.cluster([*unresolved, other])
    await watch.stop()
    assert world.embedder.calls == calls + 1  # one call, for the other worker's text only
    assert watch.counts == {
        "suggested": 0,
        "unresolved_embedded": 1,
        "unresolved_embedding_reused": len(unresolved),
    }
    assert not worker.unresolved_embeddings  # taken once
    for r in [*unresolved, other]:  # the same vectors the embedder gives
        np.testing.assert_allclose(seen[r.id], world.embedder.encode([r.text])[0], rtol=1e-6)


async def test_a_worker_keeps_a_bounded_number_of_them(world, monkeypatch) -> None:
    monkeypatch.setattr(worker_module, "UNRESOLVED_KEPT", 1)
    unresolved = await _unresolved(world)
    assert len(unresolved) >= 2
    assert list(world.worker.unresolved_embeddings) == [unresolved[-1].id]  # the latest


@pytest.mark.parametrize("off", [{"new_intent_min_size": 0}, {"drift": False}])
async def test_nothing_is_kept_without_new_intent_suggestions(world, off) -> None:
    world.worker.settings = world.worker.settings.model_copy(update=off)
    assert await _unresolved(world)
    assert not world.worker.unresolved_embeddings
