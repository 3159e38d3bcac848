"""The classify step: decode, embed, let the engine decide, one prediction + one next record per text."""

from __future__ import annotations

import json

import numpy as np
import pytest

from redline.schemas import JudgeRequest, LabelResult, Prediction, decode, decode_embedding
from redline.streams.classify_step import classify, decide, embed
from redline.streams.stats import routing_stats


def _text(i: str, text: str) -> bytes:
    return json.dumps({"id": i, "text": text, "metadata": {"n": 1}}).encode()


def _records(out, topic, record_type):
    return [decode(record_type, o.value) for o in out if o.topic == topic]


def test_confident_text_is_accepted(world, msg) -> None:
    out = classify([msg(_text("a", "clear weather"), b"a")], world.embedder, world.worker.engine)
    [prediction] = _records(out, "predictions", Prediction)
    [result] = _records(out, "labels", LabelResult)
    assert (result.status, result.label) == ("accepted", "weather")
    assert result.confidence == prediction.candidates[0].p > 0.5
    assert prediction.route == "accept" and result.metadata == {"n": 1}
    assert result.model_version == "test-model"


def test_uncertain_text_goes_to_the_judge_with_context_and_its_embedding(world, msg) -> None:
    out = classify([msg(_text("b", "between balance transfer"), b"b")], world.embedder, world.worker.engine)
    [prediction] = _records(out, "predictions", Prediction)
    [request] = _records(out, "judge_requests", JudgeRequest)
    assert prediction.route == "judge"
    assert {c.label for c in request.candidates[:2]} == {"balance", "transfer"}
    assert request.index == 0 and request.attempts == []
    ctx = {c.label: c for c in request.contexts}
    assert ctx["transfer"].description == "move money between accounts"
    assert len(ctx["transfer"].examples) == 2
    assert all(e.startswith("transfer example") for e in ctx["transfer"].examples)
    np.testing.assert_allclose(
        decode_embedding(request.embedding), world.embedder.encode(["between balance transfer"])[0]
    )


def test_uncertain_text_without_judge_is_unresolved(tmp_path, msg) -> None:
    from stream_world import make_world

    w = make_world(tmp_path)
    w.worker.engine.judge_available = False
    out = classify([msg(_text("b", "between balance transfer"), b"b")], w.embedder, w.worker.engine)
    [result] = _records(out, "labels", LabelResult)
    assert result.status == "unresolved" and result.label is None and "no judge" in result.reason
    assert result.candidates  # the model's guesses are still reported


def test_one_output_per_valid_id_and_the_batch_is_embedded_once(world, msg) -> None:
    messages = [msg(_text(f"id{i}", t), f"id{i}".encode(), i) for i, t in enumerate(world.truth)]
    messages.insert(2, msg(b"not json", b"zzz", 99))
    out = classify(messages, world.embedder, world.worker.engine)
    assert world.embedder.calls == 1
    finals = [o for o in out if o.topic in ("labels", "judge_requests")]
    assert sorted(o.key for o in finals) == sorted(f"id{i}".encode() for i in range(len(world.truth)))
    assert len(_records(out, "predictions", Prediction)) == len(world.truth)
    assert [o.topic for o in out].count("deadletter") == 1


def test_a_text_that_breaks_the_model_ends_unresolved_others_survive(world, monkeypatch, msg) -> None:
    model = world.worker.engine.model
    real = model.predict_scores

    def fragile(X, texts):
        if any("poison" in t for t in texts):
            raise ValueError("model exploded")
        return real(X, texts)

    monkeypatch.setattr(model, "predict_scores", fragile)
    messages = [msg(_text("ok", "clear alarm"), b"ok"), msg(_text("bad", "poison"), b"bad", 1)]
    out = classify(messages, world.embedder, world.worker.engine)
    labels = {o.key: decode(LabelResult, o.value) for o in out if o.topic == "labels"}
    assert labels[b"ok"].status == "accepted"
    assert labels[b"bad"].status == "unresolved" and "model exploded" in labels[b"bad"].reason


def test_a_text_that_breaks_the_embedder_ends_unresolved_others_survive(world, monkeypatch, msg) -> None:
    real = world.embedder.encode

    def fragile(texts):
        if any("poison" in t for t in texts):
            raise RuntimeError("tokenizer exploded")
        return real(texts)

    monkeypatch.setattr(world.embedder, "encode", fragile)
    messages = [
        msg(_text("ok", "clear alarm"), b"ok"),
        msg(_text("bad", "poison"), b"bad", 1),
        msg(_text("ok2", "clear weather"), b"ok2", 2),
    ]
    batch = embed(messages, world.embedder)
    assert list(batch.errors) == [1] and "tokenizer exploded" in batch.errors[1]
    out = decide(batch, world.worker.engine)
    labels = {o.key: decode(LabelResult, o.value) for o in out if o.topic == "labels"}
    assert [o.key for o in out if o.topic in ("labels", "judge_requests")] == [b"ok", b"bad", b"ok2"]
    assert labels[b"ok"].status == labels[b"ok2"].status == "accepted"
    assert labels[b"bad"].status == "unresolved" and "tokenizer exploded" in labels[b"bad"].reason
    assert [decode(Prediction, o.value).id for o in out if o.topic == "predictions"] == ["ok", "ok2"]


def test_embed_then_decide_is_classify(world, msg) -> None:
    messages = [msg(_text(f"id{i}", t), f"id{i}".encode(), i) for i, t in enumerate(world.truth)]
    messages.insert(1, msg(b"{}", b"zzz", 99))
    whole = classify(messages, world.embedder, world.worker.engine)
    halves = decide(embed(messages, world.embedder), world.worker.engine)
    assert [o.key for o in halves] == [o.key for o in whole]  # (routes depend on the router's window)
    assert whole[0].topic == "deadletter"  # dead letters first


@pytest.mark.parametrize("threshold,route", [(0.0, "judge"), (1.0, "accept")])
def test_a_fixed_threshold_controls_routing(tmp_path, msg, threshold, route) -> None:
    from stream_world import make_world

    w = make_world(tmp_path, threshold=threshold)
    messages = [msg(_text(f"i{i}", t), f"i{i}".encode()) for i, t in enumerate(w.truth)]
    out = classify(messages, w.embedder, w.worker.engine)
    assert {p.route for p in _records(out, "predictions", Prediction)} == {route}


@pytest.mark.parametrize("share", [0.25, 0.5])
def test_judge_budget_sends_the_most_uncertain_share(tmp_path, msg, share) -> None:
    from stream_world import make_world

    w = make_world(tmp_path, threshold=None, share=share, window=6)
    messages = [msg(_text(f"i{i}", t), f"i{i}".encode()) for i, t in enumerate(w.truth)]
    preds = _records(classify(messages, w.embedder, w.worker.engine), "predictions", Prediction)
    asked = [p for p in preds if p.route == "judge"]
    kept = [p for p in preds if p.route == "accept"]
    assert abs(len(asked) - share * len(preds)) <= 1
    assert min(p.uncertainty for p in asked) >= max(p.uncertainty for p in kept)
    stats = routing_stats(w.worker.engine.router)
    assert stats["texts"] == len(preds) and stats["judge_asked"] == len(asked)
    assert stats["target_share"] == share and stats["warm_start"] is False
