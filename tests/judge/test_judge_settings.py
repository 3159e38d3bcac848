"""JudgeSettings: one frozen object, one environment variable and one option per knob, one-line errors."""

from __future__ import annotations

import os

import pytest

from redline.errors import ConfigError
from redline.judge.retry_policy import RetryPolicy
from redline.judge.settings import PLACEHOLDER_API_KEY, JudgeSettings, judge_knobs

#: a valid value different from the default, per knob, as an environment variable would give it
NON_DEFAULT = {
    "model": ("qwen", "qwen"),
    "base_url": ("http://127.0.0.1:9999/v1", "http://127.0.0.1:9999/v1"),
    "temperature": ("0.7", 0.7),
    "max_tokens": ("12", 12),
    "timeout_s": ("9.5", 9.5),
    "max_retries": ("7", 7),
    "backoff_base_s": ("0.25", 0.25),
    "backoff_max_s": ("3", 3.0),
    "jitter": ("0.1", 0.1),
    "max_retry_after_s": ("5", 5.0),
    "max_in_flight": ("9", 9),
    "price_in_per_1k": ("0.5", 0.5),
    "price_out_per_1k": ("2", 2.0),
    "use_logprobs": ("false", False),
    "top_logprobs": ("3", 3),
    "response_format": ("json", "json"),
    "threshold": ("0.3", 0.3),
    "hardening": ("flag", "flag"),
    "max_examples": ("5", 5),
    "breaker_threshold": ("2", 2),
    "breaker_probe_interval_s": ("0.5", 0.5),
    "max_outage_s": ("30", 30.0),
    "reachability_timeout_s": ("1.5", 1.5),
    "cache_enabled": ("false", False),
    "cache_path": ("/tmp/verdicts.sqlite", "/tmp/verdicts.sqlite"),
    "cache_max_entries": ("10", 10),
    "jitter_seed": ("42", 42),
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("REDLINE_JUDGE", "OPENAI_")):
            monkeypatch.delenv(name)


def test_every_knob_has_one_variable_and_one_option() -> None:
    knobs = judge_knobs()
    assert {k.name for k in knobs} == set(JudgeSettings.model_fields) == set(NON_DEFAULT) | {"api_key"}
    variables = [k.env for k in knobs]
    assert len(set(variables)) == len(variables)
    assert all(
        v.startswith("REDLINE_JUDGE_") for v in variables if v not in ("OPENAI_BASE_URL", "OPENAI_API_KEY")
    )
    flags = [k.flag for k in knobs if k.flag]
    assert len(set(flags)) == len(flags) == len(knobs) - 1  # all but the API key
    assert next(k for k in knobs if k.name == "api_key").flag == ""


@pytest.mark.parametrize("name", sorted(NON_DEFAULT))
def test_each_variable_sets_exactly_its_knob(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    knob = next(k for k in judge_knobs() if k.name == name)
    raw, expected = NON_DEFAULT[name]
    monkeypatch.setenv("REDLINE_JUDGE_MODEL", "m")
    baseline = JudgeSettings.from_env()
    monkeypatch.setenv(knob.env, raw)
    settings = JudgeSettings.from_env()
    assert getattr(settings, name) == expected
    changed = {f for f in JudgeSettings.model_fields if getattr(settings, f) != getattr(baseline, f)}
    assert changed == {name}


def test_the_stream_concurrency_variable_is_not_the_judges(monkeypatch: pytest.MonkeyPatch) -> None:
    # REDLINE_JUDGE_CONCURRENCY is the worker's number of judge agents; calls in flight are
    # REDLINE_JUDGE_MAX_IN_FLIGHT: one variable per knob
    monkeypatch.setenv("REDLINE_JUDGE_MODEL", "m")
    monkeypatch.setenv("REDLINE_JUDGE_CONCURRENCY", "17")
    monkeypatch.setenv("REDLINE_JUDGE_SHARE", "0.3")  # the stream's, too: ignored here
    assert JudgeSettings.from_env().max_in_flight == 4
    monkeypatch.setenv("REDLINE_JUDGE_MAX_IN_FLIGHT", "7")
    assert JudgeSettings.from_env().max_in_flight == 7


def test_defaults_then_environment_then_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDLINE_JUDGE_MODEL", "from-env")
    monkeypatch.setenv("REDLINE_JUDGE_BREAKER_THRESHOLD", "3")
    settings = JudgeSettings.from_env(
        defaults={"breaker_threshold": 0, "max_outage_s": 300.0}, model="given", timeout_s=None
    )
    assert settings.model == "given"  # an override wins
    assert settings.breaker_threshold == 3  # the environment beats a caller's default
    assert settings.max_outage_s == 300.0  # the caller's default beats the built-in one
    assert settings.timeout_s == 30.0  # None overrides are skipped
    assert JudgeSettings.from_env(model="x").max_outage_s == 120.0  # bounded by default


def test_the_constructor_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDLINE_JUDGE_THRESHOLD", "0.9")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    settings = JudgeSettings(model="m")
    assert settings.threshold == 0.5 and settings.api_key.get_secret_value() == PLACEHOLDER_API_KEY


def test_frozen_and_copies_are_validated() -> None:
    settings = JudgeSettings(model="m")
    with pytest.raises(Exception, match="frozen"):
        settings.threshold = 0.1  # type: ignore[misc]
    assert settings.with_(threshold=0.2).threshold == 0.2 and settings.threshold == 0.5
    with pytest.raises(ConfigError, match=r"threshold \(REDLINE_JUDGE_THRESHOLD\) = 2"):
        settings.with_(threshold=2)
    assert settings.retry_policy == RetryPolicy(4, 0.5, 20.0, 0.5, 60.0)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "no judge model: set REDLINE_JUDGE_MODEL or pass --model"),
        ({"model": "m", "threshold": 1.5}, "threshold (REDLINE_JUDGE_THRESHOLD) = 1.5"),
        ({"model": "m", "max_outage_s": None}, "max_outage_s (REDLINE_JUDGE_MAX_OUTAGE_S) = None"),
        ({"model": "m", "max_outage_s": float("inf")}, "finite"),
        (
            {"model": "m", "timeout_s": 0},
            "timeout_s (REDLINE_JUDGE_TIMEOUT_S) = 0: Input should be greater than 0",
        ),
        ({"model": "m", "hardening": "strong"}, "hardening"),
        ({"model": "m", "base_url": "127.0.0.1:8080"}, "must start with http:// or https://"),
        ({"model": "m", "cache_max_entries": -1}, "cache_max_entries"),
        ({"model": "m", "colour": "red"}, "unknown setting colour"),
    ],
)
def test_invalid_settings_are_one_line_config_errors(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        JudgeSettings(**values)
    text = str(caught.value)
    assert text.startswith("judge settings: ") and message in text and "\n" not in text


def test_invalid_variables_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDLINE_JUDGE_MODEL", "m")
    monkeypatch.setenv("REDLINE_JUDGE_MAX_IN_FLIGHT", "many")
    monkeypatch.setenv("REDLINE_JUDGE_PRICE_IN", "-1")
    with pytest.raises(ConfigError) as caught:
        JudgeSettings.from_env()
    text = str(caught.value)
    assert "max_in_flight (REDLINE_JUDGE_MAX_IN_FLIGHT) = 'many'" in text
    assert "price_in_per_1k (REDLINE_JUDGE_PRICE_IN) = '-1'" in text and "\n" not in text
    with pytest.raises(ConfigError, match="unknown setting colour"):
        JudgeSettings.from_env(colour="red")


def test_empty_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDLINE_JUDGE_MODEL", "m")
    monkeypatch.setenv("OPENAI_BASE_URL", "")
    monkeypatch.setenv("OPENAI_API_KEY", "")
    settings = JudgeSettings.from_env()
    assert settings.base_url is None and settings.api_key.get_secret_value() == PLACEHOLDER_API_KEY
