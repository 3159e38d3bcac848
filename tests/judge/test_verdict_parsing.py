"""Reading yes/no from text, JSON and log-probabilities; never raising."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redline.judge.verdict_parsing import (
    ParsedAnswer,
    decide,
    p_yes_from_logprobs,
    p_yes_from_top_logprobs,
    parse_json,
    parse_plain,
    read_answer,
)


@pytest.mark.parametrize(
    ("content", "word"),
    [
        ("Yes", True),
        ("yes.", True),
        (" YES", True),
        ("**No**", False),
        ("No, it is about travel.", False),
        ("Answer: yes", True),
        ("The answer is no.", False),
        ("True", True),
    ],
)
def test_plain_text(content: str, word: bool) -> None:
    assert parse_plain(content).word is word


@pytest.mark.parametrize("content", ["", "   ", "Maybe.", "Yes and no.", "I cannot tell", "42"])
def test_unreadable_plain_text(content: str) -> None:
    answer = parse_plain(content)
    assert answer.word is None and answer.reason


@pytest.mark.parametrize(
    ("content", "word"),
    [
        ('{"answer": "yes"}', True),
        ('{"answer": "No"}', False),
        ('{"valid": true}', True),
        ('```json\n{"answer": "no"}\n```', False),
        ('{"is_example": false, "why": "travel"}', False),
        ('{"x": "yes"}', True),
    ],
)
def test_json(content: str, word: bool) -> None:
    answer = parse_json(content)
    assert answer.word is word and answer.reason == "json"


@pytest.mark.parametrize("content", ['{"answer": "perhaps"}', "{not json", "[1, 2]", '{"a": 1, "b": 2}'])
def test_unreadable_json(content: str) -> None:
    assert parse_json(content).word is None


def test_p_yes_from_first_token_variants() -> None:
    top = [("Yes", math.log(0.5)), (" yes", math.log(0.1)), ("No", math.log(0.3)), ("▁NO", math.log(0.1))]
    assert p_yes_from_top_logprobs(top) == pytest.approx(0.6)
    assert p_yes_from_top_logprobs([("The", -0.1), ("I", -2.0)]) is None


def test_p_yes_with_one_side_missing_is_bounded() -> None:
    # Only "Yes" listed at 0.9; "No" can hold at most what is left (0.1, and no more than the smallest listed)
    p = p_yes_from_top_logprobs([("Yes", math.log(0.9)), ("Sure", math.log(0.05))])
    assert p == pytest.approx(0.9 / (0.9 + 0.05))
    assert p is not None and p < 1.0


def test_p_yes_found_after_json_punctuation() -> None:
    positions = [[('{"', -0.01)], [("answer", -0.01)], [('":"', -0.01)], [("no", -0.2), ("yes", -1.8)]]
    assert p_yes_from_logprobs(positions) == pytest.approx(math.exp(-1.8) / (math.exp(-1.8) + math.exp(-0.2)))


def test_read_answer_prefers_logprobs_and_decide_thresholds() -> None:
    answer = read_answer("Yes", [[("Yes", math.log(0.4)), ("No", math.log(0.6))]])
    assert answer.word is True and answer.p_yes == pytest.approx(0.4) and answer.reason == "logprobs"
    assert decide(answer, 0.5)[0] is False
    assert decide(answer, 0.3)[0] is True
    plain = read_answer("No", None)
    assert decide(plain, 0.99) == (False, "text")
    assert decide(read_answer(None, None))[0] is None
    assert read_answer('{"answer": "yes"}').word is True


def test_decide_reason_names_the_threshold() -> None:
    valid, reason = decide(ParsedAnswer(None, 0.7, "logprobs"), 0.65)
    assert valid is True and "0.700" in reason and "0.650" in reason


@given(
    st.one_of(st.none(), st.text(max_size=200)),
    st.one_of(
        st.none(),
        st.lists(
            st.lists(
                st.tuples(st.text(max_size=8), st.floats(allow_nan=True, allow_infinity=True)), max_size=5
            ),
            max_size=4,
        ),
    ),
)
def test_never_raises(content: str | None, logprobs: list[list[tuple[str, float]]] | None) -> None:
    answer = read_answer(content, logprobs)
    valid, reason = decide(answer, 0.5)
    assert valid in (True, False, None) and isinstance(reason, str)
    assert answer.p_yes is None or 0.0 <= answer.p_yes <= 1.0
