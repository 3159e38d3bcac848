"""JudgeSettings: one frozen object, one environment variable and one option per knob, one-line errors."""

from __future__ import annotations

import pytest

from redline.errors import ConfigError
from redline.judge.retry_policy import RetryPolicy
from redline.judge.settings import PLACEHOLDER_API_KEY, JudgeSettings

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


def test_every_knob_has_its_own_variable() -> None:
    variables = JudgeSettings.field_env_vars()
    assert set(variables) == set(JudgeSettings.model_fields) == set(NON_DEFAULT) | {"api_key"}
    assert len(set(variables.values())) == len(variables)
    assert variables["api_key"] == "OPENAI_API_KEY" and variables["base_url"] == "OPENAI_BASE_URL"
    others = set(variables.values()) - {"OPENAI_API_KEY", "OPENAI_BASE_URL"}
    assert all(v.startswith("REDLINE_JUDGE_") for v in others)


@pytest.mark.parametrize("name", sorted(NON_DEFAULT))
def test_each_variable_sets_exactly_its_knob(name: str) -> None:
    raw, expected = NON_DEFAULT[name]
    baseline = JudgeSettings.from_env({"REDLINE_JUDGE_MODEL": "m"})
    settings = JudgeSettings.from_env({"REDLINE_JUDGE_MODEL": "m", JudgeSettings.field_env_vars()[name]: raw})
    assert getattr(settings, name) == expected
    changed = {f for f in JudgeSettings.model_fields if getattr(settings, f) != getattr(baseline, f)}
    assert changed == {name}


def test_the_stream_concurrency_variable_is_not_the_judges() -> None:
    # REDLINE_JUDGE_CONCURRENCY is the worker's number of judge agents; calls in flight are
    # REDLINE_JUDGE_MAX_IN_FLIGHT: one variable per knob
    env = {"REDLINE_JUDGE_MODEL": "m", "REDLINE_JUDGE_CONCURRENCY": "17", "REDLINE_JUDGE_SHARE": "0.3"}
    assert JudgeSettings.from_env(env).max_in_flight == 4
    assert JudgeSettings.from_env({**env, "REDLINE_JUDGE_MAX_IN_FLIGHT": "7"}).max_in_flight == 7


def test_defaults_then_environment_then_overrides() -> None:
    env = {"REDLINE_JUDGE_MODEL": "from-env", "REDLINE_JUDGE_BREAKER_THRESHOLD": "3"}
    defaults = {"breaker_threshold": 0, "max_outage_s": 300.0}
    settings = JudgeSettings.from_env(env, defaults=defaults, model="given", timeout_s=None)
    assert settings.model == "given"  # an override wins
    assert settings.breaker_threshold == 3  # the environment beats a caller's default
    assert settings.max_outage_s == 300.0  # the caller's default beats the built-in one
    assert settings.timeout_s == 30.0  # None overrides are skipped
    assert JudgeSettings.from_env({}, model="x").max_outage_s == 120.0  # bounded by default


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDLINE_JUDGE_MODEL", "from-os")
    monkeypatch.setenv("OPENAI_BASE_URL", "")  # empty counts as unset
    settings = JudgeSettings.from_env()
    assert settings.model == "from-os" and settings.base_url is None


def test_the_constructor_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDLINE_JUDGE_THRESHOLD", "0.9")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    settings = JudgeSettings(model="m")
    assert settings.threshold == 0.5 and settings.api_key.get_secret_value() == PLACEHOLDER_API_KEY


def test_frozen_and_copies_are_validated() -> None:
    settings = JudgeSettings(model="m")
    with pytest.raises(Exception, match="frozen"):
        settings.threshold = 0.1  # type: ignore[misc]
    assert settings.with_overrides(threshold=0.2).threshold == 0.2 and settings.threshold == 0.5
    with pytest.raises(ConfigError, match="threshold=2 must be <= 1"):
        settings.with_overrides(threshold=2)
    assert settings.retry_policy == RetryPolicy(4, 0.5, 20.0, 0.5, 60.0)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "model is required: the name of the judge's model"),
        ({"model": "m", "threshold": 1.5}, "threshold=1.5 must be <= 1"),
        ({"model": "m", "max_outage_s": None}, "max_outage_s=None is not a number"),
        ({"model": "m", "max_outage_s": float("inf")}, "max_outage_s=inf must be a finite number"),
        ({"model": "m", "timeout_s": 0}, "timeout_s=0 must be > 0"),
        ({"model": "m", "hardening": "strong"}, "hardening='strong' must be one of"),
        ({"model": "m", "base_url": "127.0.0.1:8080"}, "base_url must start with http:// or https://"),
        ({"model": "m", "cache_max_entries": -1}, "cache_max_entries=-1 must be >= 0"),
        ({"model": "m", "colour": "red"}, "colour='red' is not a setting"),
    ],
)
def test_invalid_settings_are_one_line_config_errors(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        JudgeSettings(**values)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_invalid_variables_and_options_are_named() -> None:
    env = {"REDLINE_JUDGE_MODEL": "m", "REDLINE_JUDGE_MAX_IN_FLIGHT": "many", "REDLINE_JUDGE_PRICE_IN": "-1"}
    with pytest.raises(ConfigError) as caught:
        JudgeSettings.from_env(env)
    text = str(caught.value)
    assert "REDLINE_JUDGE_MAX_IN_FLIGHT='many' is not an integer" in text
    assert "REDLINE_JUDGE_PRICE_IN='-1' must be >= 0" in text and "\n" not in text
    with pytest.raises(ConfigError, match="--max-outage='0' must be > 0"):
        JudgeSettings.from_env(
            {"REDLINE_JUDGE_MODEL": "m"}, flags={"max_outage_s": "--max-outage"}, max_outage_s="0"
        )
