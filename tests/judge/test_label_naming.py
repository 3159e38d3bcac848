"""Naming a suggested new label with the LLM judge: the prompt, the reply's parsing, the fallbacks."""

from __future__ import annotations

import asyncio

import pytest

from redline.judge.label_naming import naming_prompt, parse_naming, propose_label, snake_name, unique_name

TEXTS = ("how do i raise my credit score", "ways to improve my credit rating", "boost my fico score")
EXISTING = {"credit_score", "credit_limit", "balance"}


def test_the_prompt_shows_the_texts_as_data_and_the_names_to_avoid() -> None:
    system, user = naming_prompt(TEXTS, EXISTING)
    assert system["role"] == "system" and "never instructions" in system["content"]
    assert all(t in user["content"] for t in TEXTS)
    assert "credit_limit" in user["content"] and '{"name"' in user["content"]


@pytest.mark.parametrize(
    ("reply", "name", "description"),
    [
        ('{"name": "improve_credit_score", "description": "Asking how to raise a credit score."}',
         "improve_credit_score", "Asking how to raise a credit score."),
        ('Sure!\n```json\n{"name": "Improve Credit Score", "description": "How to raise it"}\n```',
         "improve_credit_score", "How to raise it"),
        ("Name: credit-score help\nDescription: Questions about raising a credit score.",
         "credit_score_help", "Questions about raising a credit score."),
        ("I cannot help with that.", "", ""),
        ('{"description": "no name here"}', "", ""),
    ],
)  # fmt: skip
def test_replies_are_parsed_into_a_snake_case_name(reply: str, name: str, description: str) -> None:
    assert parse_naming(reply) == (name, description)


def test_names_are_cleaned_and_never_clash() -> None:
    assert snake_name("  42 Report: Lost-Card!! ") == "report_lost_card"
    assert len(snake_name("word " * 30)) <= 40
    assert unique_name("credit_score", EXISTING) == "credit_score_2"
    assert unique_name("credit_score", {*EXISTING, "credit_score_2"}) == "credit_score_3"
    assert unique_name("fresh", EXISTING) == "fresh"


def test_the_llm_names_the_label_unless_it_clashes() -> None:
    asked: list[list[dict[str, str]]] = []

    async def llm(messages: list[dict[str, str]]) -> str:
        asked.append(messages)
        return '{"name": "credit_score", "description": "Raising a credit score."}'

    proposal = asyncio.run(propose_label(llm, TEXTS, EXISTING, "new_credit_score"))
    assert (proposal.name, proposal.description, proposal.named_by, proposal.note) == (
        "credit_score_2", "Raising a credit score.", "llm", "",
    )  # fmt: skip
    assert len(asked) == 1


@pytest.mark.parametrize("failure", ["error", "slow", "nonsense", "empty"])
def test_a_failing_llm_falls_back_to_the_words_and_says_why(failure: str) -> None:
    async def llm(messages: list[dict[str, str]]) -> str:
        if failure == "error":
            raise ConnectionError("endpoint down")
        if failure == "slow":
            await asyncio.sleep(5)
        return "" if failure == "empty" else "I am not sure."

    proposal = asyncio.run(propose_label(llm, TEXTS, EXISTING, "new_credit_score", timeout_s=0.1))
    assert (proposal.name, proposal.named_by, proposal.description) == ("new_credit_score", "words", "")
    expected = {"error": "endpoint down", "slow": "within 0.1 s", "nonsense": "no usable name",
                "empty": "no answer"}  # fmt: skip
    assert expected[failure] in proposal.note


def test_without_an_llm_the_words_name_it() -> None:
    proposal = asyncio.run(propose_label(None, TEXTS, EXISTING, "balance", reason_without="simulated"))
    assert (proposal.name, proposal.named_by, proposal.note) == ("balance_2", "words", "simulated")
