"""The judge and resolve steps walk the candidate list and end every text exactly once."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from redline.core.candidate_walk import CandidateWalk
from redline.core.judge_interface import JudgeContext, Verdict
from redline.errors import ConfigError
from redline.schemas import (
    Candidate,
    JudgeAttempt,
    JudgeRequest,
    JudgeVerdict,
    LabelContext,
    LabelResult,
    encode_embedding,
)
from redline.streams.judge_step import ask, walk_on
from redline.streams.resolve_step import resolve

CANDS = [Candidate("balance", 0.5), Candidate("transfer", 0.4), Candidate("alarm", 0.1)]
WALK = CandidateWalk(3)
X = np.linspace(0.1, 0.4, 4).astype(np.float32)


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
        embedding=encode_embedding(X),
    )
    base.update(kw)
    return JudgeRequest(**base)


def _verdict(request: JudgeRequest, valid: bool | None, reason: str = "") -> JudgeVerdict:
    return JudgeVerdict(request=request, attempt=JudgeAttempt(request.label, valid, reason=reason), judge="j")


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


def test_yes_to_the_top_candidate_validates_and_is_learned_with_its_embedding() -> None:
    resolution = resolve(_verdict(_request(), True), WALK)
    result = resolution.next
    assert isinstance(result, LabelResult)
    assert (result.status, result.label, result.confidence) == ("validated", "balance", 0.5)
    assert result.judge is not None and result.judge.calls == 1 and result.metadata == {"src": "x"}
    learn = resolution.learn
    assert learn is not None and (learn.text, learn.label) == ("move money", "balance")
    np.testing.assert_array_equal(learn.x, X)


def test_no_then_yes_corrects() -> None:
    nxt = resolve(_verdict(_request(), False), WALK).next
    assert isinstance(nxt, JudgeRequest) and nxt.index == 1 and len(nxt.attempts) == 1
    resolution = resolve(_verdict(nxt, True), WALK)
    result = resolution.next
    assert isinstance(result, LabelResult) and (result.status, result.label) == ("corrected", "transfer")
    assert [a.valid for a in result.judge.attempts] == [False, True]
    assert resolution.learn is not None and resolution.learn.label == "transfer"


def test_all_no_is_unresolved_and_not_learned() -> None:
    req = _request()
    for _ in range(len(CANDS)):
        resolution = resolve(_verdict(req, False), WALK)
        if isinstance(resolution.next, LabelResult):
            break
        req = resolution.next
    out = resolution.next
    assert isinstance(out, LabelResult) and out.status == "unresolved" and out.label is None
    assert out.reason == "judge rejected all 3 candidate(s)" and out.judge.calls == 3
    assert resolution.learn is None


def test_a_judge_failure_is_not_a_no_the_text_ends_judge_unavailable() -> None:
    nxt = resolve(_verdict(_request(), False), WALK).next
    resolution = resolve(_verdict(nxt, None, reason="timeout after 3 retries"), WALK)
    out = resolution.next
    assert isinstance(out, LabelResult) and out.status == "judge_unavailable" and out.label is None
    assert "could not answer about 'transfer'" in out.reason and "timeout" in out.reason
    assert resolution.learn is None  # a chain with a failed attempt is never learned
    assert [a.valid for a in out.judge.attempts] == [False, None]


async def test_ask_passes_context_and_records_the_answer() -> None:
    judge = ScriptedJudge({"balance": True})
    verdict = await ask(_request(), judge, "scripted")
    assert verdict.attempt.valid is True and verdict.attempt.cost == 0.01 and verdict.judge == "scripted"
    [(text, label, ctx)] = judge.seen
    assert (text, label) == ("move money", "balance")
    assert ctx.description == "about balance" and list(ctx.examples) == ["balance ex"]


async def test_a_raising_judge_gives_an_unanswered_verdict() -> None:
    verdict = await ask(_request(), ScriptedJudge({"balance": RuntimeError("endpoint down")}), "s")
    assert verdict.attempt.valid is None and "endpoint down" in verdict.attempt.reason
    assert resolve(verdict, WALK).next.status == "judge_unavailable"


async def test_no_judge_gives_an_unanswered_verdict() -> None:
    verdict = await ask(_request(), None, "none")
    assert verdict.attempt.valid is None and verdict.attempt.reason == "no judge configured"


async def _walk_on(answers: dict, questions: int) -> tuple[ScriptedJudge, list, JudgeVerdict, object]:
    judge, answered = ScriptedJudge(answers), []
    verdict, resolution = await walk_on(
        _request(), judge, "j", lambda: WALK, questions, asyncio.Semaphore(1), lambda *a: answered.append(a)
    )
    return judge, answered, verdict, resolution


async def test_walk_on_asks_in_a_row_until_a_yes() -> None:
    judge, answered, verdict, resolution = await _walk_on({"balance": False, "transfer": True}, 5)
    assert [label for _, label, _ in judge.seen] == ["balance", "transfer"]
    assert verdict.attempt.label == "transfer" and verdict.attempt.valid is True
    assert [(index, label, valid) for index, label, valid, _ in answered] == [
        (0, "balance", False),
        (1, "transfer", True),
    ]
    result = resolution.next
    assert isinstance(result, LabelResult) and (result.label, result.status) == ("transfer", "corrected")
    assert [a.valid for a in result.judge.attempts] == [False, True]
    assert resolution.learn is not None and resolution.learn.label == "transfer"


async def test_walk_on_stops_after_its_questions_with_the_next_request() -> None:
    judge, answered, _, resolution = await _walk_on({"balance": False, "transfer": False, "alarm": True}, 2)
    assert [label for _, label, _ in judge.seen] == ["balance", "transfer"] and len(answered) == 2
    following = resolution.next
    assert isinstance(following, JudgeRequest) and following.index == 2
    assert [a.valid for a in following.attempts] == [False, False]


async def test_walk_on_ends_at_a_judge_failure_and_refuses_no_questions() -> None:
    _, _, _, resolution = await _walk_on({"balance": False, "transfer": RuntimeError("down")}, 5)
    assert isinstance(resolution.next, LabelResult) and resolution.next.status == "judge_unavailable"
    with pytest.raises(ConfigError, match="at least 1"):
        await _walk_on({"balance": True}, 0)
