"""The result summary behind the demo's live status line and the stream benchmark."""

from __future__ import annotations

import pytest

from redline.schemas import Candidate, JudgeInfo, LabelResult
from redline.streams.result_summary import ResultSummary


def _r(i: str, label: str | None, status: str, top: str, calls: int = 0) -> LabelResult:
    return LabelResult(
        id=i,
        text=i,
        label=label,
        status=status,  # type: ignore[arg-type]
        confidence=0.5,
        candidates=[Candidate(top, 0.5)],
        model_version="m",
        judge=JudgeInfo("j", calls) if calls else None,
    )


def test_counts_and_accuracies() -> None:
    truth = {"a": "x", "b": "y", "c": "z", "d": "w"}
    t = ResultSummary(truth=truth, started=0.0)
    t.add(_r("a", "x", "accepted", "x"), arrived=1.0)
    t.add(_r("b", "y", "corrected", "q", calls=2), arrived=2.0)
    t.add(_r("c", None, "unresolved", "z", calls=5), arrived=3.0)
    t.add(_r("d", "q", "validated", "q", calls=1), arrived=4.0)
    t.add(_r("a", "x", "accepted", "x"), arrived=5.0)  # a duplicate is noticed, not counted
    acc = t.accuracy()
    assert t.count == 4 and t.duplicates == 1 and t.judge_calls == 8
    assert acc["model"] == pytest.approx(2 / 4)  # a and c had the right top candidate
    assert acc["delivered"] == pytest.approx(2 / 4)  # a, b right; c unresolved; d wrong
    assert acc["precision"] == pytest.approx(2 / 3) and acc["labelled"] == 3
    assert (acc["accepted"], acc["corrected"], acc["validated"]) == (1.0, 1.0, 0.0)
    assert t.throughput() == pytest.approx(4 / 4.0)
    assert "results 4/10" in t.line(10) and "judge calls 8" in t.line()
    assert t.to_dict()["statuses"] == {
        "accepted": 1,
        "validated": 1,
        "corrected": 1,
        "unresolved": 1,
        "judge_unavailable": 0,
    }


def test_judge_unavailable_counts_as_wrong_like_unresolved() -> None:
    truth = {"a": "x", "b": "y", "c": "z"}
    t = ResultSummary(truth=truth, started=0.0)
    t.add(_r("a", "x", "accepted", "x"), arrived=1.0)
    t.add(_r("b", None, "judge_unavailable", "y"), arrived=2.0)
    t.add(_r("c", None, "unresolved", "z"), arrived=3.0)
    acc = t.accuracy()
    assert acc["model"] == pytest.approx(1.0)  # every top candidate was right...
    assert acc["delivered"] == pytest.approx(1 / 3)  # ...but only one label was delivered
    assert acc["precision"] == pytest.approx(1.0) and acc["labelled"] == 1
    assert t.to_dict()["statuses"]["judge_unavailable"] == 1
    assert "judge_unavailable 1" in t.line()


def test_no_truth_no_accuracy() -> None:
    t = ResultSummary()
    t.add(_r("a", "x", "accepted", "x"))
    assert t.accuracy()["delivered"] is None
    assert "accuracy" not in t.line()
