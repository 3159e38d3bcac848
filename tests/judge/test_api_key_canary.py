"""The API key never leaves the Authorization header: a canary key is looked for everywhere else.

The endpoint echoes the request's Authorization header back in every error body, as a careless
proxy might, so each message built from a server's answer would carry the key if it were not removed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from redline import cli
from redline.commands import judge_options
from redline.core.judge_interface import JudgeContext
from redline.errors import ConfigError, JudgeError
from redline.judge.openai_judge import OpenAIJudge
from redline.judge.settings import JudgeSettings

CANARY = "sk-canary-7f3a9c1e5b2d4f60a8e1c3b5d7f9a2c4"
CTX = JudgeContext(description="Changing the PIN of a card.", examples=("new pin",))


class EchoingEndpoint:
    """Answers by the text of the question: an error echoing the headers, or a yes."""

    def __init__(self) -> None:
        self.authorizations: list[str] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization", "")
        self.authorizations.append(auth)
        if request.method == "GET":
            return httpx.Response(500, json={"error": {"message": f"models down, you sent {auth}"}})
        text = json.loads(request.content)["messages"][1]["content"]
        for status in (400, 401, 422, 500, 503):
            if f"status {status}" in text:
                return httpx.Response(status, json={"error": {"message": f"refused {auth} for {status}"}})
        if "connection" in text:
            raise httpx.ConnectError(f"cannot reach the server with {auth}", request=request)
        if "malformed" in text:
            return httpx.Response(200, headers={"content-type": "application/json"}, text=f"{{{auth}")
        message = {"role": "assistant", "content": "Yes"}
        body = {
            "id": "x", "object": "chat.completion", "created": 0, "model": "judge",
            "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
        }  # fmt: skip
        return httpx.Response(200, json=body)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))


def settings(tmp_path: Path, **overrides: Any) -> JudgeSettings:
    values: dict[str, Any] = {
        "model": "judge",
        "base_url": "http://judge.test/v1",
        "api_key": CANARY,
        "max_retries": 1,
        "backoff_base_s": 0.001,
        "breaker_threshold": 0,
        "cache_path": str(tmp_path / "verdicts.sqlite"),
    }
    values.update(overrides)
    return JudgeSettings(**values)


def test_settings_never_show_the_key(tmp_path: Path) -> None:
    s = settings(tmp_path)
    shown = [
        repr(s),
        str(s),
        repr(s.model_dump()),
        s.model_dump_json(),
        json.dumps(s.model_dump(mode="json")),
    ]
    assert s.api_key.get_secret_value() == CANARY
    assert all(CANARY not in text for text in shown)
    for bad in ({"threshold": 7}, {"api_key": 12345}, {"model": ""}, {"base_url": "judge.test"}):
        with pytest.raises(ConfigError) as caught:
            settings(tmp_path, **bad)
        assert CANARY not in str(caught.value)


def test_environment_errors_never_show_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    monkeypatch.setenv("REDLINE_JUDGE_MODEL", "judge")
    monkeypatch.setenv("REDLINE_JUDGE_THRESHOLD", "high")
    with pytest.raises(ConfigError) as caught:
        JudgeSettings.from_env()
    assert "REDLINE_JUDGE_THRESHOLD" in str(caught.value) and CANARY not in str(caught.value)


async def test_failures_verdicts_cache_stats_and_logs_never_show_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint = EchoingEndpoint()
    judge = OpenAIJudge(settings(tmp_path, timeout_s=5.0), http_client=endpoint.client())
    seen: list[str] = []
    for question in ("status 401", "status 500", "status 503", "connection"):
        with pytest.raises(JudgeError) as caught:
            await judge.judge(question, "change_pin", CTX)
        seen += [str(caught.value), repr(caught.value)]
    for question in ("status 400", "status 422", "malformed", "fine"):
        verdict = await judge.judge(question, "change_pin", CTX)
        seen += [verdict.reason, json.dumps(verdict.extra, default=str), repr(verdict)]
    batch = await judge.judge_many([("status 500", "l", CTX), ("status 401", "l", CTX)], on_error="verdict")
    seen += [v.reason for v in batch]
    seen += [json.dumps(judge.stats()), repr(judge), repr(judge.endpoint), repr(judge.settings)]
    await judge.aclose()

    assert all(a == f"Bearer {CANARY}" for a in endpoint.authorizations)  # the key did travel
    assert any("***" in text for text in seen)  # and the echoes were scrubbed
    for text in seen:
        assert CANARY not in text, text
    assert CANARY not in caplog.text
    stored = (tmp_path / "verdicts.sqlite").read_bytes()
    assert b"Yes" in stored or b"yes" in stored.lower()  # a verdict was cached
    assert CANARY.encode() not in stored


def test_the_cli_never_shows_the_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    endpoint = EchoingEndpoint()
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    monkeypatch.setenv("REDLINE_JUDGE_MODEL", "judge")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://judge.test/v1")
    monkeypatch.setattr(judge_options, "make_judge", lambda s: OpenAIJudge(s, http_client=endpoint.client()))
    codes = [
        cli.main(["judge", "--text", "status 401", "--label", "l"]),
        cli.main(["judge", "--text", "status 500", "--label", "l", "--max-retries", "0"]),
        cli.main(["judge", "--text", "fine", "--label", "l", "--cache", str(tmp_path / "c.sqlite")]),
        cli.main(["judge", "--text", "t", "--label", "l", "--threshold", "9"]),
    ]
    assert codes == [2, 2, 0, 1]
    out = capsys.readouterr()
    assert "***" in out.err and CANARY not in out.out + out.err
    assert CANARY.encode() not in (tmp_path / "c.sqlite").read_bytes()
