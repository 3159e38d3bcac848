"""A failure is never a verdict: an endpoint down for good ends each request after a bounded outage.

The endpoints are ``httpx.MockTransport`` handlers behind the real ``openai`` client; the settings are
small so that "bounded" is a fraction of a second here (``asyncio.wait_for`` guards against a hang).
"""

from __future__ import annotations

import asyncio

import pytest

from redline.core.judge_interface import JudgeContext
from redline.errors import JudgeError
from redline.judge.openai_judge import OpenAIJudge
from redline.judge.settings import JudgeSettings
from redline.judge.stats import ERROR_KINDS, GAVE_UP_REASONS
from redline.testing.openai_mock import Reply, ScriptedEndpoint

CTX = JudgeContext(description="Changing the PIN of a card.", examples=("new pin",))

#: many retries and a breaker: without the outage bound, requests would wait behind it for ever
SMALL = {
    "model": "judge",
    "base_url": "http://judge.test/v1",
    "max_retries": 50,
    "backoff_base_s": 0.001,
    "backoff_max_s": 0.005,
    "breaker_threshold": 2,
    "breaker_probe_interval_s": 0.02,
    "max_outage_s": 0.3,
    "timeout_s": 0.2,
    "reachability_timeout_s": 0.05,
}


def make_judge(endpoint: ScriptedEndpoint, **overrides: object) -> OpenAIJudge:
    return OpenAIJudge(JudgeSettings(**{**SMALL, **overrides}), http_client=endpoint.client())


async def test_an_endpoint_answering_503_to_everything_fails_each_request() -> None:
    endpoint = ScriptedEndpoint(default=Reply(status=503))
    judge = make_judge(endpoint)
    with pytest.raises(JudgeError, match=r"judge endpoint http://judge.test/v1 unreachable: .*0.3 s"):
        await asyncio.wait_for(judge.judge("t", "l", CTX), 20)
    stats = judge.stats()
    assert stats["gave_up"]["outage"] == 1 and stats["retries"] < 2  # waiting spent no retries
    assert stats["errors"]["http_5xx"] == stats["failures"] == stats["calls"] >= 3  # probes went out
    assert stats["answered"] == 0
    breaker = stats["breaker"]
    assert breaker["state"] in ("open", "half_open") and breaker["opens"] == 1 and breaker["probes"] >= 1
    assert breaker["outage_s"] >= 0.3 and breaker["open_for_s"] == pytest.approx(breaker["outage_s"])


async def test_in_a_batch_the_outage_becomes_valid_none_verdicts_none_dropped() -> None:
    endpoint = ScriptedEndpoint(default=Reply(status=503))
    judge = make_judge(endpoint, max_in_flight=2)
    questions = [(f"text {i}", "l", CTX) for i in range(5)]
    verdicts = await asyncio.wait_for(judge.judge_many(questions, on_error="verdict"), 30)
    assert len(verdicts) == 5
    assert all(v.valid is None and "unreachable" in v.reason for v in verdicts)
    assert judge.stats()["gave_up"]["outage"] == 5


async def test_a_silent_endpoint_is_bounded_too() -> None:
    # completions and GET /models both hang: down, by timeouts
    endpoint = ScriptedEndpoint(default=Reply(delay_s=30.0), models=Reply(delay_s=30.0))
    judge = make_judge(endpoint, timeout_s=0.05)
    with pytest.raises(JudgeError, match="unreachable"):
        await asyncio.wait_for(judge.judge("t", "l", CTX), 20)
    stats = judge.stats()
    assert stats["errors"]["timeout"] >= 2 and stats["breaker"]["opens"] == 1
    assert endpoint.model_requests == stats["errors"]["timeout"]  # one reachability check per timeout


async def test_the_outage_ends_when_the_endpoint_comes_back() -> None:
    endpoint = ScriptedEndpoint([Reply(status=503)] * 4, default=Reply("Yes"))
    judge = make_judge(endpoint, max_outage_s=60.0)
    verdict = await asyncio.wait_for(judge.judge("t", "l", CTX), 20)
    assert verdict.valid is True and verdict.extra["attempts"] == 5
    breaker = judge.stats()["breaker"]
    assert breaker["state"] == "closed" and breaker["opens"] == 1 and breaker["open_for_s"] == 0.0
    assert breaker["outage_s"] > 0


def test_stats_name_every_error_kind_and_reason_before_any_call() -> None:
    judge = make_judge(ScriptedEndpoint())
    stats = judge.stats()
    assert stats["errors"] == dict.fromkeys(ERROR_KINDS, 0)  # stable labels for metrics
    assert stats["gave_up"] == dict.fromkeys(GAVE_UP_REASONS, 0)
    assert stats["breaker"] == {
        "state": "closed",
        "opens": 0,
        "probes": 0,
        "outage_s": 0.0,
        "open_for_s": 0.0,
    }
    assert {
        "requests",
        "calls",
        "tokens_in",
        "tokens_out",
        "cost",
        "mean_latency_ms",
        "latency_ms_max",
    } <= set(stats)
