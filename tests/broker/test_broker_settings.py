from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from redline.broker.security import BrokerSasl, SaslUser
from redline.broker.settings import (
    KAFKA_3_VERSION,
    KAFKA_VERSION,
    TESTED_KAFKA_VERSIONS,
    BrokerSettings,
    default_cache_dir,
    default_data_dir,
    default_kafka_version,
    kafka_release,
    min_java_major,
    uses_log4j2,
)
from redline.errors import ConfigError


def test_kafka_4_is_the_default_and_3_9_stays_selectable() -> None:
    assert KAFKA_VERSION == "4.4.0"
    assert KAFKA_3_VERSION == "3.9.1"
    assert TESTED_KAFKA_VERSIONS == ("3.9.1", "4.4.0")


def test_kafka_version_comes_from_the_environment_else_the_default() -> None:
    assert default_kafka_version({}) == KAFKA_VERSION
    assert default_kafka_version({"REDLINE_KAFKA_VERSION": ""}) == KAFKA_VERSION
    assert default_kafka_version({"REDLINE_KAFKA_VERSION": " 3.9.1 "}) == "3.9.1"


def test_release_decides_logging_and_java() -> None:
    assert kafka_release("4.4.0") == (4, 4, 0)
    assert uses_log4j2("4.0.0") and not uses_log4j2("3.9.1")
    assert min_java_major("4.1.2") == 17 and min_java_major("3.9.2") == 11


@pytest.mark.parametrize("version", ["3.8.1", "2.8.2", "5.0.0", "4.4", "4.4.0-rc1", "latest", ""])
def test_unsupported_kafka_versions_are_refused(tmp_path: Path, version: str) -> None:
    with pytest.raises(ConfigError, match="Kafka"):
        BrokerSettings(data_dir=tmp_path, cache_dir=tmp_path, kafka_version=version)


@pytest.mark.parametrize(
    ("version", "config", "flag"),
    [
        ("4.4.0", "log4j2.properties", "-Dlog4j2.configurationFile=/"),
        ("3.9.1", "log4j.properties", "-Dlog4j.configuration=file:/"),
    ],
)
def test_logging_configuration_follows_the_release(
    tmp_path: Path, version: str, config: str, flag: str
) -> None:
    s = BrokerSettings(data_dir=tmp_path, cache_dir=tmp_path, kafka_version=version)
    assert s.log4j_path == tmp_path / config
    assert s.logging_jvm_flag.startswith(flag) and s.logging_jvm_flag.endswith(config)
    assert s.install_dir == tmp_path / f"kafka-{version}"


def test_listeners_name_every_client_port(tmp_path: Path) -> None:
    s = BrokerSettings(data_dir=tmp_path, cache_dir=tmp_path, port=19092)
    assert s.listeners == {"PLAINTEXT": "127.0.0.1:19092"}
    sasl = BrokerSasl(port=19094, users=(SaslUser("a", "b"),))
    s = BrokerSettings(data_dir=tmp_path, cache_dir=tmp_path, port=19092, sasl=sasl)
    assert s.listeners == {"PLAINTEXT": "127.0.0.1:19092", "SASL_PLAINTEXT": "127.0.0.1:19094"}
    with pytest.raises(ConfigError, match="own port, got --port 19092, --sasl-port 19092"):
        BrokerSettings(
            data_dir=tmp_path, cache_dir=tmp_path, port=19092, sasl=dataclasses.replace(sasl, port=19092)
        )


def test_cache_dir_honours_redline_cache_dir(tmp_path: Path) -> None:
    env = {"REDLINE_CACHE_DIR": str(tmp_path / "c")}
    assert default_cache_dir(env) == tmp_path / "c"


def test_cache_dir_defaults_to_the_shared_redline_cache() -> None:
    assert default_cache_dir({}) == Path.home() / ".cache" / "redline"
    assert default_cache_dir({"REDLINE_CACHE_DIR": ""}) == Path.home() / ".cache" / "redline"


def test_default_data_dir_is_under_the_given_directory(tmp_path: Path) -> None:
    assert default_data_dir(tmp_path) == tmp_path / ".redline" / "kafka"


def test_paths_derive_from_data_and_cache_dirs(tmp_path: Path) -> None:
    s = BrokerSettings(data_dir=tmp_path / "d", port=19092, cache_dir=tmp_path / "c")
    assert s.bootstrap == "127.0.0.1:19092"
    assert s.install_dir == tmp_path / "c" / f"kafka-{KAFKA_VERSION}"
    assert s.properties_path.parent == s.log_dirs.parent == s.pid_path.parent == tmp_path / "d"


def test_relative_data_dir_becomes_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert BrokerSettings(data_dir=Path("rel"), cache_dir=tmp_path).data_dir == tmp_path / "rel"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"port": 0}, "between 1 and 65535"),
        ({"port": 70000}, "between 1 and 65535"),
        ({"heap": "lots"}, "512m"),
        ({"heap": "0m"}, "512m"),
        ({"start_timeout_s": 0}, "positive"),
        ({"jit": "c2"}, "c1, tiered"),
    ],
)
def test_invalid_settings_are_refused(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BrokerSettings(data_dir=tmp_path, cache_dir=tmp_path, **kwargs)  # type: ignore[arg-type]


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = BrokerSettings(data_dir=tmp_path, cache_dir=tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.port = 1  # type: ignore[misc]


def test_broker_settings_load_without_pydantic() -> None:
    """``redline kafka`` registers its flags from these constants at every CLI start: keep them light."""
    code = "import sys, redline.broker, redline.commands.kafka; print('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_jit_picks_the_jvm_compilers_of_the_broker_and_the_storage_tool(tmp_path: Path) -> None:
    """``c1`` (the default) stops the JVM at its quick compiler; ``tiered`` leaves the JVM's default."""
    from redline.broker import LocalKafkaBroker

    quick = BrokerSettings(data_dir=tmp_path, cache_dir=tmp_path)
    assert quick.jit == "c1" and quick.jit_jvm_flags == ["-XX:TieredStopAtLevel=1"]
    command = LocalKafkaBroker(quick).java_command("java", "cp")
    assert "-XX:TieredStopAtLevel=1" in command
    assert command.index("-XX:TieredStopAtLevel=1") < command.index("kafka.Kafka")
    tiered = BrokerSettings(data_dir=tmp_path, cache_dir=tmp_path, jit="tiered")
    assert tiered.jit_jvm_flags == []
    assert not any("Tiered" in arg for arg in LocalKafkaBroker(tiered).java_command("java", "cp"))
