"""``redline kafka``: parsing and error paths in-process, the real lifecycle as a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from redline.broker.jars import logging_artifacts
from redline.broker.pidfile import process_alive
from redline.broker.ports import find_free_port
from redline.broker.settings import KAFKA_VERSION
from redline.cli import build_parser, main
from redline.commands.kafka import cmd_start, recorded_port


def test_parser_registers_the_kafka_actions() -> None:
    parser = build_parser()
    args = parser.parse_args(["kafka", "start", "--port", "19092", "--data-dir", "d"])
    assert args.func is cmd_start and args.port == 19092 and args.data_dir == "d"
    assert parser.parse_args(["kafka", "start"]).port == 9092
    assert parser.parse_args(["kafka", "stop"]).port is None  # resolved from the data dir
    for action in ("stop", "status", "fetch"):
        assert callable(parser.parse_args(["kafka", action]).func)
    with pytest.raises(SystemExit):
        parser.parse_args(["kafka"])


def test_status_of_nothing_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = find_free_port()
    assert main(["kafka", "status", "--port", str(port), "--data-dir", str(tmp_path)]) == 1
    assert f"down: nothing answers Kafka requests on 127.0.0.1:{port}" in capsys.readouterr().out


def test_stop_of_nothing_is_fine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kafka", "stop", "--data-dir", str(tmp_path)]) == 0
    assert "no broker started from" in capsys.readouterr().err


def test_port_taken_is_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert main(["kafka", "start", "--port", str(port), "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"redline: error: port {port} on 127.0.0.1 is already in use by another process; "
        "stop it or choose another --port\n"
    )


def test_corrupt_data_dir_is_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "meta.properties").write_bytes(b"\xff\xfe garbage")
    port = str(find_free_port())
    assert main(["kafka", "start", "--port", port, "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is corrupt" in err


def test_recorded_port_comes_from_the_pid_file_then_the_config(tmp_path: Path) -> None:
    assert recorded_port(tmp_path) is None
    (tmp_path / "server.properties").write_text("advertised.listeners=PLAINTEXT://127.0.0.1:19555\n")
    assert recorded_port(tmp_path) == 19555
    (tmp_path / "broker.pid").write_text(
        json.dumps({"pid": 1, "port": 19666, "controller_port": 2, "properties": "p", "kafka_version": "v"})
    )
    assert recorded_port(tmp_path) == 19666


# -- the real thing ----------------------------------------------------------------------------


def redline(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the real CLI (``python -m redline``) in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "redline", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def broker_processes(data_dir: Path) -> list[int]:
    """Pids of live processes whose command line mentions ``data_dir`` (Linux /proc scan)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "kafka.Kafka" in cmdline and str(data_dir) in cmdline and process_alive(int(entry.name)):
            pids.append(int(entry.name))
    return pids


async def _round_trip(bootstrap: str, topic: str, value: bytes | None) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    if value is not None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, value)
        finally:
            await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 60)
    finally:
        await consumer.stop()
    return [record.value or b""]


@pytest.mark.integration
def test_start_status_stop_restart_through_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "kafka data"  # a space in the path on purpose
    port = str(find_free_port())
    bootstrap = f"127.0.0.1:{port}"

    # two starts at once: they serialise on the data dir's lock, one launches, the other finds it
    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "redline", "kafka", "start", "--port", port, "--data-dir", str(data)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes = [proc.communicate(timeout=300) for proc in racers]
    try:
        assert [proc.returncode for proc in racers] == [0, 0], outcomes
        assert [out for out, _ in outcomes] == [f"{bootstrap}\n"] * 2
        assert sum("already running" in err for _, err in outcomes) == 1
        pid = json.loads((data / "broker.pid").read_text())["pid"]
        assert broker_processes(data) == [pid]
        assert "Kafka Server started" in (data / "broker.log").read_text()  # its log4j config was found

        status = redline("kafka", "status", "--data-dir", str(data), cwd=tmp_path)
        assert status.returncode == 0 and status.stdout.startswith(f"up: {bootstrap} (pid {pid}")

        again = redline("kafka", "start", "--port", port, "--data-dir", str(data), cwd=tmp_path)
        assert again.returncode == 0 and again.stdout == f"{bootstrap}\n"
        assert "already running" in again.stderr
        assert broker_processes(data) == [pid]  # idempotent: no second broker

        assert asyncio.run(_round_trip(bootstrap, "cli-smoke", b"survives a restart")) == [
            b"survives a restart"
        ]
    finally:
        stopped = redline("kafka", "stop", "--data-dir", str(data), cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stderr
    assert f"stopped Kafka on {bootstrap} (pid {pid})" in stopped.stderr
    assert not (data / "broker.pid").exists()
    assert not process_alive(pid)
    assert broker_processes(data) == []

    down = redline("kafka", "status", "--data-dir", str(data), cwd=tmp_path)
    assert down.returncode == 1 and down.stdout.startswith("down")

    cluster_id = (data / "cluster.id").read_text()
    restarted = redline("kafka", "start", "--port", port, "--data-dir", str(data), cwd=tmp_path)
    try:
        assert restarted.returncode == 0, restarted.stderr
        assert (data / "cluster.id").read_text() == cluster_id  # not re-formatted
        assert asyncio.run(_round_trip(bootstrap, "cli-smoke", None)) == [b"survives a restart"]
    finally:
        assert redline("kafka", "stop", "--data-dir", str(data), cwd=tmp_path).returncode == 0
    assert broker_processes(data) == []


@pytest.mark.integration
def test_start_on_a_port_a_real_broker_holds_fails_cleanly(kafka_bootstrap: str, tmp_path: Path) -> None:
    port = kafka_bootstrap.rsplit(":", 1)[1]
    result = redline("kafka", "start", "--port", port, "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        f"redline: error: port {port} on 127.0.0.1 is already in use by another Kafka broker "
        f"(not started from {tmp_path / 'd'}); stop it or choose another --port\n"
    )
    assert result.stdout == ""
    assert not (tmp_path / "d" / "broker.pid").exists()


@pytest.mark.integration
def test_status_sees_a_broker_it_did_not_start(kafka_bootstrap: str, tmp_path: Path) -> None:
    port = kafka_bootstrap.rsplit(":", 1)[1]
    result = redline("kafka", "status", "--port", port, "--data-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == f"up: {kafka_bootstrap} (not started from this data dir)\n"


@pytest.mark.integration
def test_fetch_prints_the_cached_libs(tmp_path: Path) -> None:
    result = redline("kafka", "fetch", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    libs = Path(result.stdout.strip())
    assert (libs / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file()
    assert len(list(libs.glob("*.jar"))) > 40
    repo = Path(__file__).resolve().parents[2]
    assert os.path.commonpath([libs.resolve(), repo]) != str(repo)  # cached outside the work tree


@pytest.mark.integration
def test_fetch_resolves_from_maven_into_redline_cache_dir(tmp_path: Path) -> None:
    """A real Maven resolution into an empty cache: the same jar set, renamed into place whole."""
    if shutil.which("mvn") is None:
        pytest.skip("mvn not installed")
    reference = redline("kafka", "fetch", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr
    cache = tmp_path / "cache"
    result = subprocess.run(
        [sys.executable, "-m", "redline", "kafka", "fetch"],
        cwd=tmp_path,
        env={**os.environ, "REDLINE_CACHE_DIR": str(cache)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    libs = cache / f"kafka-{KAFKA_VERSION}" / "libs"
    assert result.stdout == f"{libs}\n"
    assert f"resolving Kafka {KAFKA_VERSION} from Maven Central" in result.stderr
    names = sorted(p.name for p in libs.glob("*.jar"))
    assert names == sorted(p.name for p in Path(reference.stdout.strip()).glob("*.jar"))
    logging = {f"{artifact}-{version}.jar" for _, artifact, version in logging_artifacts(KAFKA_VERSION)}
    assert {f"kafka_2.13-{KAFKA_VERSION}.jar", f"kafka-clients-{KAFKA_VERSION}.jar", *logging} <= set(names)
    assert os.listdir(cache) == [f"kafka-{KAFKA_VERSION}"]  # no temporary folder left behind
