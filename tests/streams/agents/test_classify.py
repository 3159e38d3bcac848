"""The classify step: decode, score with the real engine, route; dead letters for bad input."""

from __future__ import annotations

import base64
import json

import pytest

from redline.schemas import DeadLetter, JudgeRequest, LabelResult, Prediction, TextIn, decode
from redline.streams.agents import collaborators
from redline.streams.agents.classify import classify_messages, decode_batch, score_texts


def _text(i: str, text: str) -> bytes:
    return json.dumps({"id": i, "text": text, "metadata": {"n": 1}}).encode()


def test_decode_batch_splits_good_and_bad(msg) -> None:
    messages = [
        msg(_text("a", "clear balance"), b"a", 0),
        msg(b"\xff\xfe", b"b", 1),
        msg(b'{"id": "c"}', b"c", 2),
        msg(None, None, 3),
    ]
    texts, dead = decode_batch(messages)
    assert [t.id for t in texts] == ["a"]
    letters = [decode(DeadLetter, d.value) for d in dead]
    assert [d.offset for d in letters] == [1, 2, 3]
    assert base64.b64decode(letters[0].original_b64) == b"\xff\xfe"
    assert "not UTF-8" in letters[0].reason
    assert "missing required field 'text'" in letters[1].reason and letters[1].id == "c"
    assert letters[2].original_b64 == "" and "no value" in letters[2].reason
    assert {d.topic for d in dead} == {"deadletter"}


def test_confident_text_is_accepted(world) -> None:
    [(prediction, result)] = score_texts([TextIn("a", "clear weather", {"k": "v"})])
    assert isinstance(result, LabelResult)
    assert (result.status, result.label) == ("accepted", "weather")
    assert result.confidence == prediction.candidates[0].p > 0.5
    assert prediction.route == "accept" and result.metadata == {"k": "v"}
    assert result.model_version == "test-model"


def test_uncertain_text_goes_to_the_judge_with_context(world) -> None:
    [(prediction, request)] = score_texts([TextIn("b", "between balance transfer")])
    assert isinstance(request, JudgeRequest)
    assert prediction.route == "judge"
    assert {c.label for c in request.candidates[:2]} == {"balance", "transfer"}
    assert request.index == 0 and request.attempts == []
    ctx = {c.label: c for c in request.contexts}
    assert ctx["transfer"].description == "move money between accounts"
    assert len(ctx["transfer"].examples) == 2
    assert all(e.startswith("transfer example") for e in ctx["transfer"].examples)


def test_uncertain_text_without_judge_is_unresolved(world, monkeypatch) -> None:
    monkeypatch.setattr(collaborators, "judge", None)
    [(_, result)] = score_texts([TextIn("b", "between balance transfer")])
    assert isinstance(result, LabelResult)
    assert result.status == "unresolved" and result.label is None
    assert "no judge" in result.reason
    assert result.candidates  # the model's guesses are still reported


def test_one_output_per_valid_id_and_batching(world, msg) -> None:
    messages = [msg(_text(f"id{i}", t), f"id{i}".encode(), i) for i, t in enumerate(world.truth)]
    messages.insert(2, msg(b"not json", b"zzz", 99))
    out = classify_messages(messages)
    assert world.embedder.calls == 1  # the whole batch embedded at once
    finals = [o for o in out if o.topic in ("labels", "judge_requests")]
    preds = [decode(Prediction, o.value) for o in out if o.topic == "predictions"]
    assert sorted(o.key for o in finals) == sorted(f"id{i}".encode() for i in range(len(world.truth)))
    assert len(preds) == len(world.truth)
    assert [o.topic for o in out].count("deadletter") == 1


def test_a_text_that_breaks_the_model_ends_unresolved_others_survive(world, monkeypatch, msg) -> None:
    real = world.model.score

    def fragile(X, texts):
        if any("poison" in t for t in texts):
            raise ValueError("model exploded")
        return real(X, texts)

    monkeypatch.setattr(world.model, "score", fragile)
    out = classify_messages([msg(_text("ok", "clear alarm"), b"ok"), msg(_text("bad", "poison"), b"bad", 1)])
    labels = {o.key: decode(LabelResult, o.value) for o in out if o.topic == "labels"}
    assert labels[b"ok"].status == "accepted"
    assert labels[b"bad"].status == "unresolved" and "model exploded" in labels[b"bad"].reason


def test_no_model_means_every_text_unresolved_not_lost(monkeypatch, msg) -> None:
    monkeypatch.setattr(collaborators, "model", None)
    out = classify_messages([msg(_text("x", "hello"), b"x")])
    [result] = [decode(LabelResult, o.value) for o in out]
    assert result.status == "unresolved" and "no model loaded" in result.reason


@pytest.mark.parametrize("threshold", [0.0, 1.01])
def test_policy_threshold_controls_routing(world, monkeypatch, threshold) -> None:
    from redline.core.uncertainty import RoutingPolicy

    monkeypatch.setattr(collaborators, "policy", RoutingPolicy(accept_below=threshold, max_candidates=3))
    pairs = score_texts([TextIn(t, t) for t in world.truth])
    kinds = {p.route for p, _ in pairs}
    assert kinds == ({"judge"} if threshold == 0.0 else {"accept"})


@pytest.mark.parametrize("share", [0.25, 0.5])
def test_judge_budget_sends_the_most_uncertain_share(world, monkeypatch, share) -> None:
    from redline.core.judge_budget import BudgetedRouter
    from redline.streams.agents.wiring import routing_stats

    router = BudgetedRouter(share=share, max_candidates=3, window=len(world.truth))
    monkeypatch.setattr(collaborators, "policy", router)
    texts = [TextIn(f"id{i}", t) for i, t in enumerate(world.truth)]
    pairs = score_texts(texts)
    asked = [p for p, _ in pairs if p.route == "judge"]
    kept = [p for p, _ in pairs if p.route == "accept"]
    assert len(asked) == round(share * len(texts)) or abs(len(asked) - share * len(texts)) <= 1
    assert min(p.uncertainty for p in asked) >= max(p.uncertainty for p in kept)
    stats = routing_stats(router)
    assert stats["texts"] == len(texts) and stats["judge_asked"] == len(asked)
    assert stats["judge_share"] == pytest.approx(len(asked) / len(texts), abs=1e-4)
    assert stats["target_share"] == share and stats["warm_start"] is False
