"""LocalKafkaBroker without a real broker: error paths, pid handling, stop semantics."""

from __future__ import annotations

import dataclasses
import shutil
import socket
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from redline.broker import BrokerSettings, LocalKafkaBroker
from redline.broker.broker import last_log_line
from redline.broker.java import find_java, parse_java_major
from redline.broker.pidfile import BrokerRecord, process_alive, read_pid_file, write_pid_file
from redline.broker.ports import find_free_port
from redline.broker.settings import min_java_major
from redline.errors import KafkaBrokerError

FakeBroker = Callable[..., subprocess.Popen[bytes]]


def _broker(tmp_path: Path, **kwargs: object) -> LocalKafkaBroker:
    settings = BrokerSettings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", **kwargs)  # type: ignore[arg-type]
    return LocalKafkaBroker(settings, log=lambda _m: None)


def _record_for(broker: LocalKafkaBroker, pid: int, port: int | None = None) -> None:
    s = broker.settings
    s.data_dir.mkdir(parents=True, exist_ok=True)
    write_pid_file(
        s.pid_path,
        BrokerRecord(
            pid=pid,
            port=port or s.port,
            controller_port=1,
            properties=str(s.properties_path),
            kafka_version=s.kafka_version,
        ),
    )


def test_port_taken_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        broker = _broker(tmp_path, port=server.getsockname()[1])
        with pytest.raises(KafkaBrokerError, match=r"port \d+ on 127.0.0.1 is already in use"):
            broker.start()
    assert not broker.settings.pid_path.exists()


def test_corrupt_data_dir_is_refused_before_anything_starts(tmp_path: Path) -> None:
    broker = _broker(tmp_path, port=find_free_port())
    broker.settings.log_dirs.mkdir(parents=True)
    (broker.settings.log_dirs / "meta.properties").write_text("cluster.id=garbage\nversion=1\nnode.id=1\n")
    with pytest.raises(KafkaBrokerError, match="is corrupt"):
        broker.start()
    assert not broker.settings.pid_path.exists()


def test_missing_java_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(KafkaBrokerError, match="Java is not installed"):
        _broker(tmp_path, port=find_free_port()).start()


def test_too_old_java_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "jdk8"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text("#!/bin/sh\necho 'openjdk version \"1.8.0_392\"' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(KafkaBrokerError, match=r"Java 8 .* too old"):
        find_java({"JAVA_HOME": str(home), "PATH": ""})


def test_java_11_runs_kafka_3_9_but_not_4(tmp_path: Path) -> None:
    home = tmp_path / "jdk11"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.22\" 2024-01-16' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    env = {"JAVA_HOME": str(home), "PATH": ""}
    assert find_java(env, min_major=min_java_major("3.9.1")) == str(java)
    with pytest.raises(KafkaBrokerError, match=r"Java 11 .* needs Java 17\+"):
        find_java(env, min_major=min_java_major("4.4.0"))


def test_java_version_parsing() -> None:
    assert parse_java_major('openjdk version "17.0.15" 2025-04-15') == 17
    assert parse_java_major('java version "1.8.0_392"') == 8
    assert parse_java_major('openjdk version "21" 2023-09-19') == 21
    assert parse_java_major("garbage") is None


def test_last_log_line_prefers_errors_after_the_offset(tmp_path: Path) -> None:
    log = tmp_path / "broker.log"
    log.write_text("[t] ERROR old failure (x)\n")
    offset = log.stat().st_size
    with log.open("a") as fh:
        fh.write(
            "[t] INFO starting (x)\n[t] ERROR Exiting Kafka due to fatal exception (kafka.Kafka$)\n\tat x\n"
        )
    assert last_log_line(log, offset) == "[t] ERROR Exiting Kafka due to fatal exception (kafka.Kafka$)"
    with log.open("a") as fh:
        fh.write("=== banner ===\n")
    assert "Exiting Kafka" in last_log_line(log, offset)
    assert last_log_line(log, log.stat().st_size) == "(broker log is empty)"
    assert last_log_line(tmp_path / "missing.log") == "(no broker log)"


def test_stop_without_a_pid_file_stops_nothing(tmp_path: Path) -> None:
    assert _broker(tmp_path).stop() is None


def test_stale_pid_file_is_removed_and_the_process_spared(tmp_path: Path) -> None:
    broker = _broker(tmp_path)
    innocent = subprocess.Popen(["sleep", "60"])
    try:
        _record_for(broker, innocent.pid)  # pid of something that is not our broker
        assert broker.stop() is None
        assert not broker.settings.pid_path.exists()
        assert process_alive(innocent.pid)
    finally:
        innocent.kill()
        innocent.wait()


def test_garbled_pid_file_is_removed(tmp_path: Path) -> None:
    broker = _broker(tmp_path)
    broker.settings.data_dir.mkdir(parents=True)
    broker.settings.pid_path.write_text("garbage")
    assert broker.running_record() is None
    assert not broker.settings.pid_path.exists()


def test_stop_terminates_our_process_and_removes_the_pid_file(
    tmp_path: Path, fake_broker: FakeBroker
) -> None:
    broker = _broker(tmp_path)
    proc = fake_broker(str(broker.settings.properties_path))
    try:
        _record_for(broker, proc.pid)
        assert broker.running_record() is not None
        assert broker.stop() == proc.pid
        assert not process_alive(proc.pid)  # stop() reaped it: no zombie either
        assert not broker.settings.pid_path.exists()
    finally:
        proc.kill()
        proc.wait()


def test_stop_escalates_to_sigkill(tmp_path: Path, fake_broker: FakeBroker) -> None:
    broker = _broker(tmp_path, stop_timeout_s=0.5)
    said: list[str] = []
    broker.log = said.append
    proc = fake_broker(str(broker.settings.properties_path), ignore_sigterm=True)
    try:
        _record_for(broker, proc.pid)
        assert broker.stop() == proc.pid
        assert not process_alive(proc.pid)
        assert any("ignored SIGTERM" in line and "SIGKILL" in line for line in said)
    finally:
        proc.kill()
        proc.wait()


def test_start_refuses_when_this_data_dir_runs_on_another_port(
    tmp_path: Path, fake_broker: FakeBroker
) -> None:
    broker = _broker(tmp_path, port=find_free_port())
    proc = fake_broker(str(broker.settings.properties_path))
    try:
        _record_for(broker, proc.pid, port=broker.settings.port + 1)
        with pytest.raises(KafkaBrokerError, match=f"already runs on port {broker.settings.port + 1}"):
            broker.start()
        assert read_pid_file(broker.settings.pid_path) is not None  # not ours to forget
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.integration
def test_broker_that_dies_during_start_up_reports_its_last_log_line(tmp_path: Path) -> None:
    """A real JVM that cannot start (heap far too small): one line naming the cause, nothing left."""
    if shutil.which("java") is None:
        pytest.skip("java not installed")
    settings = BrokerSettings(data_dir=tmp_path / "data", port=find_free_port(), heap="1k")
    broker = LocalKafkaBroker(settings, log=lambda _m: None)
    with pytest.raises(KafkaBrokerError, match="Kafka exited during start-up") as info:
        broker.start()
    message = str(info.value)
    assert "\n" not in message
    assert "heap" in message.lower() or "Java Virtual Machine" in message
    assert str(settings.broker_log) in message
    assert not settings.pid_path.exists()


def test_status_names_our_pid_only_for_the_port_it_runs_on(tmp_path: Path, fake_broker: FakeBroker) -> None:
    broker = _broker(tmp_path, port=find_free_port())
    proc = fake_broker(str(broker.settings.properties_path))
    _record_for(broker, proc.pid)
    status = broker.status()
    assert status.pid == proc.pid and not status.answering  # a fake: nothing speaks Kafka there
    _record_for(broker, proc.pid, port=broker.settings.port + 1)
    assert broker.status().pid is None


def test_start_refuses_a_running_broker_of_another_release_or_other_listeners(
    tmp_path: Path, fake_broker: FakeBroker
) -> None:
    broker = _broker(tmp_path, port=find_free_port(), kafka_version="4.4.0")
    s = broker.settings
    proc = fake_broker(str(s.properties_path))
    try:
        s.data_dir.mkdir(parents=True, exist_ok=True)
        record = BrokerRecord(
            pid=proc.pid,
            port=s.port,
            controller_port=1,
            properties=str(s.properties_path),
            kafka_version="3.9.1",
        )
        write_pid_file(s.pid_path, record)
        with pytest.raises(KafkaBrokerError, match=r"a Kafka 3\.9\.1 broker .* not 4\.4\.0; stop it first"):
            broker.start()
        other = {"PLAINTEXT": s.bootstrap, "SSL": "127.0.0.1:1"}
        write_pid_file(s.pid_path, dataclasses.replace(record, kafka_version="4.4.0", listeners=other))
        with pytest.raises(
            KafkaBrokerError, match=r"runs other listeners \(PLAINTEXT .*, SSL 127\.0\.0\.1:1\)"
        ):
            broker.start()
        assert read_pid_file(s.pid_path) is not None  # not ours to forget
    finally:
        proc.kill()
        proc.wait()
