"""``redline status`` without a deployment: one error line, exit 1; the table of a summary."""

from __future__ import annotations

import pytest

from redline.cli import main
from redline.commands.status import render
from redline.streams.deployment_status import _faust_url, worker_metrics


def test_an_unreachable_broker_is_one_line_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--bootstrap", "127.0.0.1:1", "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("redline: error: cannot reach Kafka at 127.0.0.1:1")
    assert captured.err.count("\n") == 1


def test_a_bad_bootstrap_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--bootstrap", "no-port"]) != 0
    err = capsys.readouterr().err
    assert err.startswith("redline: error:") and "bootstrap" in err and err.count("\n") == 1


def test_a_window_that_is_not_positive_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--bootstrap", "127.0.0.1:1", "--window", "0"]) == 1
    assert capsys.readouterr().err == "redline: error: --window must be a positive number of seconds, not 0\n"


def test_a_worker_that_does_not_answer_is_listed_with_the_reason() -> None:
    from redline.broker.ports import find_free_port

    url = f"http://127.0.0.1:{find_free_port()}"
    assert worker_metrics(url, timeout_s=1.0)["error"].startswith(f"{url}/metrics")
    assert worker_metrics(None) == {"error": "no web URL in its group metadata"}


def test_the_web_url_is_read_from_faust_group_metadata() -> None:
    metadata = (
        b'\x00\x04\x00\x00\x00\x01\x00\x05texts\x00\x00\x00\x30{"assignment": {}, "url": "http://h:6066"}'
    )
    assert _faust_url(metadata) == "http://h:6066"
    assert _faust_url(b"\x00\x01no json") is None


def test_the_table_shows_group_model_policy_and_workers() -> None:
    summary = {
        "bootstrap": "k:9092",
        "topic_prefix": "redline.",
        "group": {
            "id": "redline",
            "state": "Stable",
            "members": [
                {"host": "/10.0.0.2", "url": "http://w1:6066", "client_id": "c",
                 "metrics": {"results": {"accepted": 5, "corrected": 0}, "leader": True,
                             "model_version": "v3", "breaker_state": "closed"}},
                {"host": "/10.0.0.3", "url": None, "client_id": "c", "metrics": {"error": "no web URL"}},
            ],
            "lag": [{"topic": "redline.texts", "partition": 0, "committed": 7, "end": 9, "lag": 2}],
        },
        "model": {"version": "v3", "labels": 4, "examples": 40, "learned": 8, "reason": "learned 8"},
        "judge_policy": {"judge_share": 0.2},
        "last_hour": {"window_s": 3600.0, "dead_letters": 2, "drift_events": 1, "rejected_events": 0},
    }  # fmt: skip
    text = render(summary)
    assert "redline (Stable, 2 member(s))" in text and "v3: 4 labels, 40 examples, 8 learned" in text
    assert "judge_share=0.2" in text and "2 dead letters, 1 drift events, 0 rejected commands" in text
    assert "redline.texts  0          7          9    2" in text
    assert "accepted=5" in text and "corrected" not in text and "no web URL" in text
