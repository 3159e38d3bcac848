from __future__ import annotations

from pathlib import Path

import pytest

from redline.broker.properties import (
    client_port,
    log4j_properties,
    logging_properties,
    parse_properties,
    render_properties,
    server_properties,
)
from redline.broker.security import BrokerSasl, BrokerTls, SaslUser
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
    sasl = BrokerSasl(port=9094, users=(SaslUser("a", "b"),))
    with pytest.raises(ConfigError, match="must differ"):
        server_properties(host="127.0.0.1", port=9092, controller_port=9094, log_dirs=tmp_path, sasl=sasl)


def _secured(tmp_path: Path, **sasl_kwargs: object) -> dict[str, str]:
    (tmp_path / "k.p12").write_bytes(b"k")
    (tmp_path / "t.p12").write_bytes(b"t")
    sasl = BrokerSasl(port=19094, users=(SaslUser("alice", "a=1"), SaslUser("bob", "b")), **sasl_kwargs)  # type: ignore[arg-type]
    tls = BrokerTls(
        port=19095,
        keystore=tmp_path / "k.p12",
        keystore_password="kp",
        truststore=tmp_path / "t.p12",
        truststore_password="tp",
    )
    return server_properties(
        host="127.0.0.1", port=19092, controller_port=19093, log_dirs=tmp_path, sasl=sasl, tls=tls
    )


def test_secured_listeners_sit_next_to_plaintext_and_the_controller_stays_plaintext(tmp_path: Path) -> None:
    p = _secured(tmp_path)
    assert p["listeners"] == (
        "PLAINTEXT://127.0.0.1:19092,SASL_PLAINTEXT://127.0.0.1:19094,SSL://127.0.0.1:19095,"
        "CONTROLLER://127.0.0.1:19093"
    )
    assert p["advertised.listeners"] == (
        "PLAINTEXT://127.0.0.1:19092,SASL_PLAINTEXT://127.0.0.1:19094,SSL://127.0.0.1:19095"
    )
    assert p["listener.security.protocol.map"] == (
        "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT"
    )
    assert p["inter.broker.listener.name"] == "PLAINTEXT"
    assert client_port(p) == 19092


def test_sasl_listener_enables_scram_and_plain_with_jaas_users(tmp_path: Path) -> None:
    p = _secured(tmp_path)
    prefix = "listener.name.sasl_plaintext."
    assert p[f"{prefix}sasl.enabled.mechanisms"] == "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN"
    assert p[f"{prefix}scram-sha-256.sasl.jaas.config"].startswith("org.apache.kafka.common.security.scram.")
    assert p[f"{prefix}scram-sha-512.sasl.jaas.config"].endswith("required;")
    assert p[f"{prefix}plain.sasl.jaas.config"] == (
        'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="a=1" user_bob="b";'
    )
    only_scram = _secured(tmp_path, mechanisms=("SCRAM-SHA-512",))
    assert f"{prefix}plain.sasl.jaas.config" not in only_scram
    assert f"{prefix}scram-sha-256.sasl.jaas.config" not in only_scram


def test_ssl_listener_reads_pkcs12_stores_and_requests_client_certificates(tmp_path: Path) -> None:
    p = _secured(tmp_path)
    prefix = "listener.name.ssl."
    assert p[f"{prefix}ssl.keystore.location"] == str(tmp_path / "k.p12")
    assert p[f"{prefix}ssl.keystore.type"] == p[f"{prefix}ssl.truststore.type"] == "PKCS12"
    assert p[f"{prefix}ssl.keystore.password"] == p[f"{prefix}ssl.key.password"] == "kp"
    assert p[f"{prefix}ssl.truststore.password"] == "tp"
    assert p[f"{prefix}ssl.client.auth"] == "requested"


def test_log4j2_configuration_writes_to_stdout_in_the_pattern_last_log_line_reads() -> None:
    values = parse_properties(render_properties(logging_properties(log4j2=True)))
    assert values["appender.stdout.type"] == "Console"
    assert values["rootLogger.appenderRef.stdout.ref"] == values["appender.stdout.name"]
    assert values["appender.stdout.layout.pattern"].startswith("[%d] %p ")
    quiet = {
        values[k]: values[k.replace(".name", ".level")]
        for k in values
        if k.endswith(".name") and k.startswith("logger.")
    }
    assert quiet["kafka.request.logger"] == "WARN"
    assert logging_properties(log4j2=False) == log4j_properties()


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


def test_a_partition_index_holds_a_whole_segment_of_entries(tmp_path: Path) -> None:
    # the index files are smaller than Kafka's 10 MiB (their first page fault zero-fills up to the disk's
    # read-ahead of them), yet large enough that a segment is rolled for its size, not for a full index:
    # an entry every log.index.interval.bytes (4 KiB), 8 bytes in the offset index, 12 in the time index
    p = _props(tmp_path)
    index_bytes = int(p["log.index.size.max.bytes"])
    entries = int(p["log.segment.bytes"]) // 4096
    assert index_bytes < 10 * 1024 * 1024
    assert index_bytes >= 2 * entries * 12
