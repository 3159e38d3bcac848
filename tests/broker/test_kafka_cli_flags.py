"""``redline kafka start|fetch`` flags for the Kafka release and the secured listeners (parsing only)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from redline.broker.settings import KAFKA_VERSION
from redline.cli import build_parser, main
from redline.commands.kafka import build_settings, sasl_users
from redline.errors import ConfigError


def _settings(*argv: str):  # type: ignore[no-untyped-def]
    return build_settings(build_parser().parse_args(["kafka", *argv]))


def test_kafka_version_flag_then_variable_then_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDLINE_KAFKA_VERSION", raising=False)
    assert _settings("start", "--data-dir", str(tmp_path)).kafka_version == KAFKA_VERSION
    monkeypatch.setenv("REDLINE_KAFKA_VERSION", "3.9.1")
    assert _settings("fetch", "--data-dir", str(tmp_path)).kafka_version == "3.9.1"
    assert (
        _settings("start", "--kafka-version", "4.0.0", "--data-dir", str(tmp_path)).kafka_version == "4.0.0"
    )


def test_unsupported_version_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["kafka", "fetch", "--kafka-version", "3.8.0", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Kafka 3.8.0 is not supported" in err


def test_jit_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _settings("start", "--data-dir", str(tmp_path)).jit == "c1"
    assert _settings("start", "--jit", "tiered", "--data-dir", str(tmp_path)).jit == "tiered"
    with pytest.raises(SystemExit):
        _settings("start", "--jit", "c2", "--data-dir", str(tmp_path))
    assert "invalid choice: 'c2'" in capsys.readouterr().err


def test_sasl_flags_build_the_listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDLINE_BROKER_SASL_USERS", raising=False)
    s = _settings("start", "--data-dir", str(tmp_path), "--port", "19092", "--sasl-port", "19094",
                  "--sasl-user", "alice:a=1", "--sasl-user", "bob:b",
                  "--sasl-mechanisms", "SCRAM-SHA-512")  # fmt: skip
    assert s.sasl is not None
    assert [(u.name, u.password) for u in s.sasl.users] == [("alice", "a=1"), ("bob", "b")]
    assert s.sasl.mechanisms == ("SCRAM-SHA-512",)
    assert s.listeners["SASL_PLAINTEXT"] == "127.0.0.1:19094"


def test_sasl_users_come_from_the_variable_when_no_flag_names_one(tmp_path: Path) -> None:
    args = build_parser().parse_args(["kafka", "start", "--sasl-port", "19094"])
    env = {"REDLINE_BROKER_SASL_USERS": "alice:x, bob:y,"}
    assert [u.name for u in sasl_users(args, env)] == ["alice", "bob"]
    args = build_parser().parse_args(["kafka", "start", "--sasl-port", "19094", "--sasl-user", "carol:z"])
    assert [u.name for u in sasl_users(args, env)] == ["carol"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sasl-user", "alice:x"], "need --sasl-port"),
        (["--sasl-port", "19094"], "at least one --sasl-user"),
        (["--sasl-port", "19094", "--sasl-user", "alice"], "NAME:PASSWORD"),
        (["--sasl-port", "9092", "--sasl-user", "alice:x"], "own port"),
        (["--ssl-dir", "somewhere"], "--ssl-dir needs --ssl-port"),
    ],
)
def test_bad_security_flags_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], message: str
) -> None:
    monkeypatch.delenv("REDLINE_BROKER_SASL_USERS", raising=False)
    with pytest.raises(ConfigError, match=message):
        _settings("start", "--data-dir", str(tmp_path), *argv)


@pytest.mark.skipif(
    shutil.which("openssl") is None or shutil.which("keytool") is None,
    reason="openssl or keytool not installed",
)
def test_ssl_port_makes_a_throwaway_ca_once_in_the_data_dir(tmp_path: Path) -> None:
    s = _settings("start", "--data-dir", str(tmp_path), "--ssl-port", "19095")
    assert s.tls is not None and s.tls.keystore == tmp_path / "tls" / "broker.p12"
    assert (tmp_path / "tls" / "ca.pem").is_file() and (tmp_path / "tls" / "client.pem").is_file()
    stamp = (tmp_path / "tls" / "ca.pem").stat().st_mtime_ns
    again = _settings("start", "--data-dir", str(tmp_path), "--ssl-port", "19095")
    assert again.tls == s.tls  # the same stores and password, the CA kept
    assert (tmp_path / "tls" / "ca.pem").stat().st_mtime_ns == stamp
    other = _settings(
        "start", "--data-dir", str(tmp_path), "--ssl-port", "19095", "--ssl-dir", str(tmp_path / "o")
    )
    assert other.tls is not None and other.tls.keystore.parent == tmp_path / "o"
