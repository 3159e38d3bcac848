"""Naming a suggested label with a real OpenAI-compatible server (llama.cpp, SmolLM2-135M): the
request goes through the judge's client and whatever the small model replies becomes a usable name or
the words' fallback with its reason."""

from __future__ import annotations

import re

import pytest

from redline.judge.label_naming import propose_label
from redline.judge.openai_judge import OpenAIJudge
from redline.judge.settings import JudgeSettings
from redline.testing.llm_server import LlamaServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TEXTS = ("how do i change a flat tire", "what tools do i need to swap a tire", "steps to put on the spare")
EXISTING = {"tire_pressure", "oil_change_when", "schedule_maintenance"}


async def test_a_real_llm_reply_becomes_a_name_or_the_fallback(llm_server: LlamaServer) -> None:
    settings = JudgeSettings(model=llm_server.alias, base_url=llm_server.base_url, timeout_s=60.0,
                             cache_enabled=False)  # fmt: skip
    async with OpenAIJudge(settings) as judge:

        async def complete(messages: list[dict[str, str]]) -> str:
            return await judge.complete(messages, max_tokens=80)

        proposal = await propose_label(complete, TEXTS, EXISTING, "new_tire", timeout_s=120.0)
        stats = judge.stats()
    assert stats["tokens_in"] > 50 and stats["tokens_out"] >= 1  # the request really went out
    assert re.fullmatch(r"[a-z][a-z0-9_]*", proposal.name) and proposal.name not in EXISTING
    if proposal.named_by == "words":
        assert proposal.name == "new_tire" and proposal.note
    else:
        assert proposal.named_by == "llm" and proposal.note == ""
