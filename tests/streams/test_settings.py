"""Stream settings: defaults, environment, CLI overrides, validation; topic names and declarations."""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest
from pydantic import ValidationError

from redline.errors import ConfigError
from redline.streams.app import create_app
from redline.streams.kafka_security import KafkaSecurity
from redline.streams.settings import ENV_VARS, StreamSettings, TopicNames

CANARY = "canary-pw-7f3a9c"
SASL_ENV = {
    "REDLINE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "REDLINE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
    "REDLINE_KAFKA_SASL_USERNAME": "bob",
    "REDLINE_KAFKA_SASL_PASSWORD": CANARY,
}


def test_topic_names_share_the_prefix() -> None:
    names = TopicNames.with_prefix()
    assert names.all() == [
        "redline.texts",
        "redline.predictions",
        "redline.labels",
        "redline.judge.requests",
        "redline.judge.verdicts",
        "redline.control",
        "redline.events",
        "redline.models",
        "redline.examples",
        "redline.deadletter",
    ]
    assert TopicNames.with_prefix("x.").judge_verdicts == "x.judge.verdicts"


def test_from_env_then_overrides() -> None:
    env = {
        "REDLINE_BOOTSTRAP": "h1:1,h2:2",
        "REDLINE_WEB_PORT": "7001",
        "REDLINE_UNCERTAINTY_THRESHOLD": "0.3",
        "REDLINE_MODEL_DIR": "/m",
        "REDLINE_JUDGE": "simulated:0.9",
        "REDLINE_JUDGE_SHARE": "0.15",
    }
    s = StreamSettings.from_env(env, web_port=7002, judge=None)
    assert s.bootstrap == "h1:1,h2:2" and s.broker_url == "kafka://h1:1;kafka://h2:2"
    assert s.web_port == 7002  # the CLI wins
    assert s.uncertainty_threshold == 0.3 and s.model_dir == Path("/m") and s.judge == "simulated:0.9"
    assert s.judge_share == 0.15
    assert StreamSettings.from_env({}).bootstrap == "127.0.0.1:9092"
    assert StreamSettings.from_env({}).judge_share == 0.2 and StreamSettings().uncertainty_threshold is None


def test_defaults_of_the_new_knobs() -> None:
    s = StreamSettings()
    assert s.partitions == 4 and s.context_examples == 3
    assert s.ready_timeout_s == 120.0 and s.max_text_chars == 20000 and s.truncate_texts is False
    assert s.metrics is True and s.log_json is False and s.loglevel == "warning"
    assert s.security == KafkaSecurity() and s.security.security_protocol == "PLAINTEXT"


def test_every_knob_reads_its_variable() -> None:
    env = {
        "REDLINE_APP_ID": "a1",
        "REDLINE_TOPIC_PREFIX": "t-",
        "REDLINE_PARTITIONS": "8",
        "REDLINE_REPLICATION": "3",
        "REDLINE_WEB_HOST": "0.0.0.0",
        "REDLINE_BATCH_SIZE": "16",
        "REDLINE_BATCH_WITHIN_S": "0.25",
        "REDLINE_JUDGE_CONCURRENCY": "2",
        "REDLINE_MAX_CANDIDATES": "7",
        "REDLINE_CONTEXT_EXAMPLES": "0",
        "REDLINE_LEARN_EVERY": "0",
        "REDLINE_LEARN_INTERVAL_S": "9.5",
        "REDLINE_WORKER_DIR": "/w",
        "REDLINE_LOGLEVEL": "INFO",
        "REDLINE_READY_TIMEOUT_S": "30",
        "REDLINE_MAX_TEXT_CHARS": "100",
        "REDLINE_TRUNCATE_TEXTS": "yes",
        "REDLINE_METRICS": "false",
        "REDLINE_LOG_JSON": "1",
        **SASL_ENV,
    }
    s = StreamSettings.from_env(env)
    assert (s.app_id, s.topic_prefix, s.partitions, s.replication, s.web_host) == (
        "a1",
        "t-",
        8,
        3,
        "0.0.0.0",
    )
    assert (s.batch_size, s.batch_within_s, s.judge_concurrency, s.max_candidates) == (16, 0.25, 2, 7)
    assert (s.context_examples, s.learn_every, s.learn_interval_s) == (0, 0, 9.5)
    assert s.data_dir == Path("/w") and s.loglevel == "info" and s.ready_timeout_s == 30.0
    assert (s.max_text_chars, s.truncate_texts, s.metrics, s.log_json) == (100, True, False, True)
    assert s.security.sasl_username == "bob" and s.security.sasl_mechanism == "SCRAM-SHA-256"
    assert s.topics.texts == "t-texts"


def test_every_field_has_exactly_one_documented_variable() -> None:
    own = [name for name in StreamSettings.model_fields if name != "security"]
    nested = [f"security.{name}" for name in KafkaSecurity.model_fields]
    assert sorted(ENV_VARS) == sorted(own + nested)
    variables = list(ENV_VARS.values())
    assert len(set(variables)) == len(variables) and all(v.startswith("REDLINE_") for v in variables)
    assert ENV_VARS["data_dir"] == "REDLINE_WORKER_DIR" and ENV_VARS["judge_share"] == "REDLINE_JUDGE_SHARE"
    assert all(StreamSettings.model_fields[name].description for name in own)
    assert all(KafkaSecurity.model_fields[name].description for name in KafkaSecurity.model_fields)


def test_each_variable_reaches_its_own_field_only() -> None:
    samples = {"bootstrap": "h:1", "topic_prefix": "p.", "loglevel": "debug", "model_dir": "/m", "judge": "x"}
    base = StreamSettings()
    for name, variable in ENV_VARS.items():
        if name.startswith("security.") or name not in samples:
            continue
        changed = StreamSettings.from_env({variable: samples[name]})
        differing = [f for f in StreamSettings.model_fields if getattr(changed, f) != getattr(base, f)]
        assert differing == [name], (name, differing)


def test_the_constructor_never_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDLINE_WEB_PORT", "7777")
    monkeypatch.setenv("REDLINE_KAFKA_SECURITY_PROTOCOL", "SSL")
    assert StreamSettings(bootstrap="127.0.0.1:1234").web_port == 6066
    assert StreamSettings().security.security_protocol == "PLAINTEXT"
    assert StreamSettings.from_env().web_port == 7777  # from_env() reads os.environ
    assert StreamSettings.from_env({}).web_port == 6066  # ... or the mapping it is given


def test_settings_are_frozen_and_overrides_are_validated() -> None:
    s = StreamSettings()
    with pytest.raises(ValidationError):
        s.web_port = 1  # type: ignore[misc]
    t = s.with_overrides(web_port=7001, judge=None)
    assert t.web_port == 7001 and t.judge == "none" and s.web_port == 6066
    with pytest.raises(ConfigError, match="web_port=0 must be >= 1"):
        s.with_overrides(web_port=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bootstrap": "nohost"}, "host:port"),
        ({"batch_size": 0}, "batch_size=0 must be >= 1"),
        ({"web_port": 70000}, "web_port"),
        ({"uncertainty_threshold": 1.5}, "uncertainty_threshold=1.5 must lie in"),
        ({"judge_share": 1.2}, "judge_share"),
        ({"judge_share": -0.1}, "judge_share"),
        ({"judge": " "}, "judge=' ' must not be empty"),
        ({"batch_within_s": 0}, "batch_within_s"),
        ({"partitions": 0}, "partitions=0 must be >= 1"),
        ({"replication": 0}, "replication"),
        ({"web_host": ""}, "web_host"),
        ({"learn_interval_s": float("nan")}, "learn_interval_s=nan must be a finite number"),
        ({"ready_timeout_s": 0}, "ready_timeout_s"),
        ({"max_text_chars": 0}, "max_text_chars"),
        ({"loglevel": "loud"}, "loglevel='loud' must be one of"),
        ({"topic_prefix": "a b"}, "topic_prefix='a b' may hold only"),
        ({"no_such_knob": 1}, "no_such_knob=1 is not a setting"),
    ],
)
def test_invalid_settings_are_refused(kwargs, message) -> None:
    with pytest.raises(ConfigError, match=message):
        StreamSettings(**kwargs)


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="REDLINE_BATCH_SIZE='many'"):
        StreamSettings.from_env({"REDLINE_BATCH_SIZE": "many"})
    with pytest.raises(
        ConfigError, match=r"^REDLINE_WEB_PORT='0' must be >= 1; REDLINE_METRICS='maybe' is not"
    ):
        StreamSettings.from_env(
            {"REDLINE_METRICS": "maybe", "REDLINE_WORKER_DIR": "x", "REDLINE_WEB_PORT": "0"}
        )


def test_bad_flag_value_names_the_flag() -> None:
    flags = {"uncertainty_threshold": "--threshold"}
    with pytest.raises(ConfigError, match=r"^--threshold='2' must lie in \[0, 1\]$"):
        StreamSettings.from_env(
            {"REDLINE_UNCERTAINTY_THRESHOLD": "0.5"}, flags=flags, uncertainty_threshold="2"
        )


def test_errors_are_one_line_without_a_pydantic_traceback() -> None:
    with pytest.raises(ConfigError) as caught:
        StreamSettings.from_env({"REDLINE_WEB_PORT": "x", "REDLINE_PARTITIONS": "0"})
    assert "\n" not in str(caught.value) and "pydantic" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert "ValidationError" not in "".join(traceback.format_exception(caught.value))


def test_security_comes_from_the_same_environment_unless_given() -> None:
    s = StreamSettings.from_env(SASL_ENV)
    assert s.security.security_protocol == "SASL_PLAINTEXT" and s.security.uses_sasl
    given = KafkaSecurity()
    assert StreamSettings.from_env(SASL_ENV, security=given).security is given


def test_the_password_never_shows_in_settings() -> None:
    settings = StreamSettings.from_env(SASL_ENV)
    assert settings.security.sasl_password is not None
    assert settings.security.sasl_password.get_secret_value() == CANARY
    shown = [
        repr(settings),
        str(settings),
        str(settings.model_dump()),
        settings.model_dump_json(),
        str(settings.model_dump(mode="json")),
        repr(settings.security),
        str(settings.security),
    ]
    for text in shown:
        assert CANARY not in text and "**********" in text
    assert CANARY not in repr(settings.security.faust_kwargs())  # faust's credentials hide it too


@pytest.mark.parametrize(
    ("env", "overrides", "message"),
    [
        ({**SASL_ENV, "REDLINE_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}, {}, "only apply to SASL"),
        ({**SASL_ENV, "REDLINE_KAFKA_SASL_MECHANISM": "MD5"}, {}, "REDLINE_KAFKA_SASL_MECHANISM='MD5'"),
        ({**SASL_ENV, "REDLINE_KAFKA_SASL_USERNAME": ""}, {}, "REDLINE_KAFKA_SASL_USERNAME must be set"),
        (SASL_ENV, {"web_port": "x"}, "web_port='x' is not an integer"),
        ({**SASL_ENV, "REDLINE_KAFKA_SSL_CAFILE": "/nonexistent.pem"}, {}, "REDLINE_KAFKA_SSL_CAFILE"),
    ],
)
def test_the_password_never_shows_in_errors(env, overrides, message) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        StreamSettings.from_env(env, **overrides)
    error = caught.value
    assert CANARY not in str(error)
    assert CANARY not in "".join(traceback.format_exception(error))
    assert CANARY not in repr(error.__context__)  # the suppressed ValidationError hides inputs too


def test_a_secret_given_with_a_wrong_type_is_still_hidden() -> None:
    with pytest.raises(ConfigError) as caught:
        KafkaSecurity(sasl_password=1234567)
    assert "sasl_password='**********'" in str(caught.value) and "1234567" not in str(caught.value)
    with pytest.raises(ConfigError) as nested:
        StreamSettings(security={"security_protocol": "PLAINTEXT", "sasl_password": CANARY})
    assert CANARY not in str(nested.value) and "sasl_password" in str(nested.value)


def test_app_declares_every_topic_as_raw_bytes(tmp_path) -> None:
    settings = StreamSettings(data_dir=tmp_path, topic_prefix="t.", partitions=3, web_port=6123)
    app, topics = create_app(settings)
    assert app.conf.web_port == 6123 and app.conf.broker_consumer[0].port == 9092
    assert topics.texts.get_topic_name() == "t.texts"
    assert topics.models.compacting is True and topics.texts.partitions == 3
    assert topics.labels.value_serializer == "raw"
