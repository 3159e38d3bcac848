"""Stream settings: defaults, environment, CLI overrides, validation; topic names and declarations."""

from __future__ import annotations

from pathlib import Path

import pytest

from redline.errors import ConfigError
from redline.streams.app import create_app
from redline.streams.settings import StreamSettings, TopicNames


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


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bootstrap": "nohost"}, "host:port"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"web_port": 70000}, "web_port"),
        ({"uncertainty_threshold": 1.5}, "uncertainty_threshold"),
        ({"judge_share": 1.2}, "judge_share"),
        ({"judge_share": -0.1}, "judge_share"),
        ({"judge": " "}, "judge spec"),
        ({"batch_within_s": 0}, "batch_within_s"),
    ],
)
def test_invalid_settings_are_refused(kwargs, message) -> None:
    with pytest.raises(ConfigError, match=message):
        StreamSettings(**kwargs)


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="REDLINE_BATCH_SIZE='many'"):
        StreamSettings.from_env({"REDLINE_BATCH_SIZE": "many"})


def test_app_declares_every_topic_as_raw_bytes(tmp_path) -> None:
    settings = StreamSettings(data_dir=tmp_path, topic_prefix="t.", partitions=3, web_port=6123)
    app, topics = create_app(settings)
    assert app.conf.web_port == 6123 and app.conf.broker_consumer[0].port == 9092
    assert topics.texts.get_topic_name() == "t.texts"
    assert topics.models.compacting is True and topics.texts.partitions == 3
    assert topics.labels.value_serializer == "raw"
