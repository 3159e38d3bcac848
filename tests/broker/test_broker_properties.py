from __future__ import annotations

from pathlib import Path

import pytest

from redline.broker.properties import (
    client_port,
    log4j_properties,
    parse_properties,
    render_properties,
    server_properties,
)
from redline.errors import ConfigError, InputDataError


def _props(tmp_path: Path) -> dict[str, str]:
    return server_properties(host="127.0.0.1", port=19092, controller_port=19093, log_dirs=tmp_path / "logs")


def test_single_node_kraft_combined_roles(tmp_path: Path) -> None:
    p = _props(tmp_path)
    assert p["process.roles"] == "broker,controller"
    assert p["node.id"] == "1"
    assert p["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert p["controller.listener.names"] == "CONTROLLER"


def test_listeners_bind_loopback_and_advertise_the_client_port(tmp_path: Path) -> None:
    p = _props(tmp_path)
    assert p["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert p["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert "CONTROLLER" not in p["advertised.listeners"]
    assert p["listener.security.protocol.map"] == "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"


def test_internal_topics_fit_a_single_node(tmp_path: Path) -> None:
    p = _props(tmp_path)
    assert p["log.dirs"] == str(tmp_path / "logs")
    assert p["offsets.topic.replication.factor"] == "1"
    assert p["transaction.state.log.replication.factor"] == "1"
    assert p["transaction.state.log.min.isr"] == "1"
    assert p["auto.create.topics.enable"] == "true"


def test_same_port_for_client_and_controller_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must differ"):
        server_properties(host="127.0.0.1", port=9092, controller_port=9092, log_dirs=tmp_path)


def test_render_then_parse_round_trips(tmp_path: Path) -> None:
    p = _props(tmp_path)
    text = render_properties(p, header="line one\nline two")
    assert text.startswith("# line one\n# line two\n")
    assert parse_properties(text) == p
    assert list(parse_properties(text)) == list(p)  # order kept


def test_parse_skips_comments_and_refuses_garbage() -> None:
    assert parse_properties("#c\n!c\n\n a = b \n") == {"a": "b"}
    with pytest.raises(InputDataError, match="line 2"):
        parse_properties("a=b\n\x00\x01garbage\n")


def test_client_port_reads_the_advertised_plaintext_listener(tmp_path: Path) -> None:
    assert client_port(_props(tmp_path)) == 19092
    assert client_port({}) is None
    assert client_port({"advertised.listeners": "SSL://h:1"}) is None


def test_log4j_sends_everything_to_stdout() -> None:
    p = log4j_properties()
    assert p["log4j.rootLogger"] == "INFO, stdout"
    assert p["log4j.appender.stdout"] == "org.apache.log4j.ConsoleAppender"
