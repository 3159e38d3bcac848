from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from redline.broker.pidfile import (
    BrokerRecord,
    is_our_broker,
    process_alive,
    process_command_line,
    read_pid_file,
    remove_pid_file,
    write_pid_file,
)


@pytest.fixture
def fake(tmp_path: Path, fake_broker: Callable[..., subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    return fake_broker(str(tmp_path / "server.properties"))


def _record(pid: int, tmp_path: Path) -> BrokerRecord:
    return BrokerRecord(
        pid=pid,
        port=1,
        controller_port=2,
        properties=str(tmp_path / "server.properties"),
        kafka_version="3.9.1",
    )


def test_pid_file_round_trips_and_is_removed(tmp_path: Path) -> None:
    path = tmp_path / "broker.pid"
    record = _record(1234, tmp_path)
    write_pid_file(path, record)
    assert read_pid_file(path) == record
    assert not (tmp_path / "broker.pid.tmp").exists()
    remove_pid_file(path)
    assert read_pid_file(path) is None
    remove_pid_file(path)  # idempotent


def test_pid_file_keeps_the_listeners_and_reads_older_files_without_them(tmp_path: Path) -> None:
    path = tmp_path / "broker.pid"
    record = dataclasses.replace(
        _record(1234, tmp_path), listeners={"PLAINTEXT": "127.0.0.1:1", "SSL": "127.0.0.1:3"}
    )
    write_pid_file(path, record)
    assert read_pid_file(path) == record
    older = {"pid": 1234, "port": 1, "controller_port": 2, "properties": "p", "kafka_version": "3.9.1"}
    path.write_text(json.dumps(older))
    read = read_pid_file(path)
    assert read is not None and read.listeners is None


@pytest.mark.parametrize("text", ["", "1234", "{not json", '{"pid": "x"}', '{"pid": -5, "port": 1}', "[]"])
def test_garbled_pid_file_reads_as_none(tmp_path: Path, text: str) -> None:
    (tmp_path / "broker.pid").write_text(text)
    assert read_pid_file(tmp_path / "broker.pid") is None


def test_exited_child_is_not_alive_even_before_it_is_waited_for() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while process_alive(proc.pid):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not process_alive(proc.pid)


def test_own_process_is_alive_and_has_a_command_line() -> None:
    import os

    assert process_alive(os.getpid())
    argv = process_command_line(os.getpid())
    assert argv is not None and argv[0]
    assert not process_alive(0)


def test_only_a_java_kafka_process_with_our_properties_is_ours(
    fake: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    assert is_our_broker(fake.pid, str(tmp_path / "server.properties"))
    assert not is_our_broker(fake.pid, str(tmp_path / "other" / "server.properties"))


def test_a_non_java_process_is_not_ours(tmp_path: Path) -> None:
    props = str(tmp_path / "server.properties")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "kafka.Kafka", props])
    try:
        assert not is_our_broker(proc.pid, props)
    finally:
        proc.kill()
        proc.wait()
    assert not is_our_broker(proc.pid, props)
