"""The judge and resolve steps walk the candidate list and end every text exactly once."""

from __future__ import annotations

import pytest

from redline.core.judge_interface import JudgeContext, Verdict
from redline.schemas import (
    Candidate,
    DeadLetter,
    JudgeAttempt,
    JudgeRequest,
    JudgeVerdict,
    LabelContext,
    LabelResult,
    decode,
    encode,
)
from redline.streams.agents import collaborators
from redline.streams.agents.judging import ask, judge_message
from redline.streams.agents.resolve import resolve, resolve_message

CANDS = [Candidate("balance", 0.5), Candidate("transfer", 0.4), Candidate("alarm", 0.1)]


def _request(**kw) -> JudgeRequest:
    base = dict(
        id="t",
        text="move money",
        candidates=CANDS,
        contexts=[LabelContext(c.label, f"about {c.label}", [f"{c.label} ex"]) for c in CANDS],
        index=0,
        uncertainty=0.9,
        model_version="m",
        metadata={"src": "x"},
    )
    base.update(kw)
    return JudgeRequest(**base)


def _verdict(request: JudgeRequest, valid: bool | None) -> JudgeVerdict:
    return JudgeVerdict(request=request, attempt=JudgeAttempt(request.label, valid), judge="j")


class ScriptedJudge:
    """Answers from a script of label -> answer; records the questions it saw."""

    def __init__(self, answers: dict[str, bool | Exception | None]) -> None:
        self.answers = answers
        self.seen: list[tuple[str, str, JudgeContext]] = []

    async def judge(self, text: str, label: str, context: JudgeContext) -> Verdict:
        self.seen.append((text, label, context))
        answer = self.answers[label]
        if isinstance(answer, Exception):
            raise answer
        return Verdict(valid=answer, p_yes=0.9 if answer else 0.1, reason="scripted", cost=0.01)


def test_yes_to_the_top_candidate_validates() -> None:
    result = resolve(_verdict(_request(), True))
    assert isinstance(result, LabelResult)
    assert (result.status, result.label, result.confidence) == ("validated", "balance", 0.5)
    assert result.judge is not None and result.judge.calls == 1
    assert result.metadata == {"src": "x"}


def test_no_then_yes_corrects() -> None:
    nxt = resolve(_verdict(_request(), False))
    assert isinstance(nxt, JudgeRequest) and nxt.index == 1 and len(nxt.attempts) == 1
    result = resolve(_verdict(nxt, True))
    assert isinstance(result, LabelResult)
    assert (result.status, result.label) == ("corrected", "transfer")
    assert [a.valid for a in result.judge.attempts] == [False, True]


def test_all_no_is_unresolved() -> None:
    req = _request()
    for _ in range(len(CANDS)):
        out = resolve(_verdict(req, False))
        if isinstance(out, LabelResult):
            break
        req = out
    assert isinstance(out, LabelResult)
    assert out.status == "unresolved" and out.label is None
    assert out.reason == "judge rejected all 3 candidate(s)" and out.judge.calls == 3


def test_judge_failures_move_on_and_are_named() -> None:
    req = _request(candidates=CANDS[:1], contexts=_request().contexts[:1])
    failed = JudgeVerdict(request=req, attempt=JudgeAttempt("balance", None, reason="timeout"), judge="j")
    out = resolve(failed)
    assert isinstance(out, LabelResult) and out.status == "unresolved"
    assert "could not answer 1: timeout" in out.reason


async def test_ask_passes_context_and_records_the_answer(monkeypatch) -> None:
    judge = ScriptedJudge({"balance": True})
    monkeypatch.setattr(collaborators, "judge", judge)
    monkeypatch.setattr(collaborators, "judge_name", "scripted")
    verdict = await ask(_request())
    assert verdict.attempt.valid is True and verdict.attempt.cost == 0.01 and verdict.judge == "scripted"
    [(text, label, ctx)] = judge.seen
    assert (text, label) == ("move money", "balance")
    assert ctx.description == "about balance" and list(ctx.examples) == ["balance ex"]


async def test_a_raising_judge_gives_an_unanswered_verdict(monkeypatch) -> None:
    monkeypatch.setattr(collaborators, "judge", ScriptedJudge({"balance": RuntimeError("endpoint down")}))
    verdict = await ask(_request())
    assert verdict.attempt.valid is None and "endpoint down" in verdict.attempt.reason


async def test_full_walk_through_messages(monkeypatch, msg) -> None:
    judge = ScriptedJudge({"balance": False, "transfer": False, "alarm": True})
    monkeypatch.setattr(collaborators, "judge", judge)
    topic, value = "judge_requests", encode(_request())
    hops = 0
    while topic != "labels":
        hops += 1
        step = judge_message if topic == "judge_requests" else None
        out = await step(msg(value, b"t")) if step else resolve_message(msg(value, b"t"))
        assert len(out) == 1
        topic, value = out[0].topic, out[0].value
    result = decode(LabelResult, value)
    assert (result.status, result.label, result.judge.calls) == ("corrected", "alarm", 3)
    assert [label for _, label, _ in judge.seen] == ["balance", "transfer", "alarm"]
    assert hops == 6  # three questions, three resolutions


@pytest.mark.parametrize("step", ["judge", "resolve"])
async def test_malformed_internal_messages_become_dead_letters(step, msg) -> None:
    bad = msg(b'{"id": "t"}', b"t", topic=f"redline.{step}")
    out = await judge_message(bad) if step == "judge" else resolve_message(bad)
    [letter] = out
    assert letter.topic == "deadletter"
    dead = decode(DeadLetter, letter.value)
    assert dead.stage == step and dead.id == "t" and "missing required field" in dead.reason
