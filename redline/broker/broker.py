"""`LocalKafkaBroker`: start, stop and query one local single-node KRaft broker."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from redline.broker import jars as jars_module
from redline.broker import java as java_module
from redline.broker.pidfile import (
    BrokerRecord,
    is_our_broker,
    process_alive,
    read_pid_file,
    remove_pid_file,
    write_pid_file,
)
from redline.broker.ports import find_free_port, port_is_free
from redline.broker.probe import broker_answers
from redline.broker.properties import logging_properties, render_properties, server_properties
from redline.broker.settings import BrokerSettings, min_java_major
from redline.broker.storage import ensure_formatted, formatted_cluster_id
from redline.errors import KafkaBrokerError

#: seconds between readiness probes while the broker starts
POLL_INTERVAL_S = 0.25
#: seconds to wait for the process to vanish after SIGKILL
KILL_WAIT_S = 15.0


@dataclass(frozen=True)
class BrokerStatus:
    """What ``status`` reports.

    Parameters
    ----------
    bootstrap : str
        The ``host:port`` that was probed.
    answering : bool
        A broker there answers Metadata requests (the broker is up).
    pid : int or None
        The live broker process recorded in this data dir's pid file, if any.
    """

    bootstrap: str
    answering: bool
    pid: int | None


def last_log_line(path: Path, offset: int = 0) -> str:
    """The most telling line of the broker log after ``offset``: the last ERROR/FATAL line, else the last."""
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no broker log)"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "(broker log is empty)"
    for line in reversed(lines):
        if " ERROR " in line or " FATAL " in line:
            return line[:500]
    return lines[-1][:500]


def _sigterm_when_parent_dies() -> None:  # pragma: no cover - runs in the forked child
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def _stderr(message: str) -> None:
    print(f"redline: {message}", file=sys.stderr, flush=True)


class LocalKafkaBroker:
    """One local Apache Kafka broker in KRaft mode, managed through its data dir.

    Parameters
    ----------
    settings : BrokerSettings
        Port, data dir, cache dir, heap and timeouts.
    log : callable, optional
        Receives progress lines (default: stderr, prefixed ``redline:``).
    die_with_parent : bool
        On Linux, have the kernel send the broker SIGTERM when the process that started it dies
        (for test sessions: no broker outlives a killed pytest). The CLI leaves it False: its
        broker must outlive ``redline kafka start``.
    """

    def __init__(
        self,
        settings: BrokerSettings,
        log: Callable[[str], None] | None = None,
        *,
        die_with_parent: bool = False,
    ) -> None:
        self.settings = settings
        self.log = log if log is not None else _stderr
        self.die_with_parent = die_with_parent
        self._process: subprocess.Popen[bytes] | None = None  # the JVM this object started, if any

    # -- jars -------------------------------------------------------------------------------

    def fetch(self) -> jars_module.KafkaJars:
        """Resolve (once) and return the cached Kafka jars."""
        s = self.settings
        return jars_module.resolve_kafka_jars(s.install_dir, s.kafka_version, log=self.log)

    # -- queries ----------------------------------------------------------------------------

    def running_record(self) -> BrokerRecord | None:
        """The pid file's record if it names a live broker of this data dir; stale files are removed."""
        s = self.settings
        record = read_pid_file(s.pid_path)
        if record is None:
            if s.pid_path.exists():
                remove_pid_file(s.pid_path)
            return None
        if record.properties == str(s.properties_path) and is_our_broker(record.pid, record.properties):
            return record
        remove_pid_file(s.pid_path)
        return None

    def status(self) -> BrokerStatus:
        """Probe the broker's port and report whether it answers."""
        s = self.settings
        record = self.running_record()
        return BrokerStatus(
            bootstrap=s.bootstrap,
            answering=broker_answers(s.host, s.port),
            pid=record.pid if record is not None and record.port == s.port else None,
        )

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Serialise start/stop on one data dir across processes (an advisory lock file)."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.settings.data_dir / "start.lock").open("a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    # -- start ------------------------------------------------------------------------------

    def start(self) -> str:
        """Start the broker (or find it already running) and return its bootstrap address.

        Returns only once the broker answers Metadata requests.

        Raises
        ------
        KafkaBrokerError
            Java or Maven missing, Maven Central unreachable, port taken, corrupt data dir,
            or the broker died or did not answer during start-up.
        """
        with self._exclusive():
            return self._start()

    def _start(self) -> str:
        s = self.settings
        record = self.running_record()
        if record is not None:
            self._check_running(record)
            self.log(f"Kafka {record.kafka_version} already running on {s.bootstrap} (pid {record.pid})")
            self._wait_until_answering(record.pid, proc=None, log_offset=self._log_size())
            return s.bootstrap
        for name, address in s.listeners.items():
            port = int(address.rsplit(":", 1)[1])
            if not port_is_free(s.host, port):
                holder = (
                    f"another Kafka broker (not started from {s.data_dir})"
                    if name == "PLAINTEXT" and broker_answers(s.host, port, timeout_s=1.5)
                    else "another process"
                )
                flag = {"PLAINTEXT": "--port", "SASL_PLAINTEXT": "--sasl-port", "SSL": "--ssl-port"}[name]
                raise KafkaBrokerError(
                    f"port {port} on {s.host} is already in use by {holder}; stop it or choose another {flag}"
                )
        formatted_cluster_id(s.data_dir, s.log_dirs, s.cluster_id_path)  # refuse a corrupt dir early
        java = java_module.find_java(min_major=min_java_major(s.kafka_version))
        jars = self.fetch()
        client_ports = frozenset(int(a.rsplit(":", 1)[1]) for a in s.listeners.values())
        controller_port = find_free_port(s.host, exclude=client_ports)
        s.data_dir.mkdir(parents=True, exist_ok=True)
        self._write_config(controller_port)
        cluster_id = ensure_formatted(s, java=java, classpath=jars.classpath)
        self.log(
            f"starting Kafka {s.kafka_version} on {s.bootstrap} (cluster {cluster_id}, data {s.data_dir})"
        )
        proc, log_offset = self._spawn(java, jars.classpath)
        self._process = proc
        write_pid_file(
            s.pid_path,
            BrokerRecord(
                pid=proc.pid,
                port=s.port,
                controller_port=controller_port,
                properties=str(s.properties_path),
                kafka_version=s.kafka_version,
                listeners=s.listeners,
            ),
        )
        try:
            self._wait_until_answering(proc.pid, proc=proc, log_offset=log_offset)
        except BaseException:
            self._terminate(proc.pid)
            remove_pid_file(s.pid_path)
            raise
        for name, address in s.listeners.items():
            if name != "PLAINTEXT":
                self.log(f"{name} listener on {address}")
        return s.bootstrap

    def _check_running(self, record: BrokerRecord) -> None:
        """Refuse to reuse a running broker of this data dir that differs from the settings."""
        s = self.settings
        if record.port != s.port:
            raise KafkaBrokerError(
                f"a broker from data dir {s.data_dir} already runs on port {record.port} "
                f"(pid {record.pid}); stop it first or use another --data-dir"
            )
        if record.kafka_version != s.kafka_version:
            raise KafkaBrokerError(
                f"a Kafka {record.kafka_version} broker from data dir {s.data_dir} already runs "
                f"(pid {record.pid}), not {s.kafka_version}; stop it first (redline kafka stop)"
            )
        if record.listeners is not None and record.listeners != s.listeners:
            running = ", ".join(f"{k} {v}" for k, v in record.listeners.items())
            raise KafkaBrokerError(
                f"the broker from data dir {s.data_dir} (pid {record.pid}) runs other listeners "
                f"({running}); stop it first (redline kafka stop)"
            )

    def _write_config(self, controller_port: int) -> None:
        """Write ``server.properties`` (owner-only when it holds passwords) and the logging config."""
        s = self.settings
        text = render_properties(
            server_properties(
                host=s.host,
                port=s.port,
                controller_port=controller_port,
                log_dirs=s.log_dirs,
                sasl=s.sasl,
                tls=s.tls,
            ),
            header=f"generated by `redline kafka start` (Kafka {s.kafka_version}); rewritten on start",
        )
        fd = os.open(s.properties_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(text)
        s.log4j_path.write_text(render_properties(logging_properties(log4j2=s.uses_log4j2)), encoding="utf-8")

    def java_command(self, java: str, classpath: str) -> list[str]:
        """The JVM command line that runs the broker."""
        s = self.settings
        return [
            java, f"-Xmx{s.heap}", "-Xms64m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", *s.jit_jvm_flags,
            "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
            s.logging_jvm_flag, f"-Dkafka.logs.dir={s.data_dir}",
            "-cp", classpath, "kafka.Kafka", str(s.properties_path),
        ]  # fmt: skip

    def _log_size(self) -> int:
        try:
            return self.settings.broker_log.stat().st_size
        except OSError:
            return 0

    def _spawn(self, java: str, classpath: str) -> tuple[subprocess.Popen[bytes], int]:
        s = self.settings
        offset = self._log_size()
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        with s.broker_log.open("ab") as log_file:
            banner = f"=== redline: starting Kafka {s.kafka_version} on {s.bootstrap} at {stamp} ===\n"
            log_file.write(banner.encode())
            log_file.flush()
            proc = subprocess.Popen(
                self.java_command(java, classpath),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=s.data_dir,
                start_new_session=True,  # detached: survives the CLI and the terminal's Ctrl-C
                close_fds=True,
                preexec_fn=_sigterm_when_parent_dies if self.die_with_parent else None,
            )
        return proc, offset

    def _wait_until_answering(
        self, pid: int, *, proc: subprocess.Popen[bytes] | None, log_offset: int
    ) -> None:
        s = self.settings
        deadline = time.monotonic() + s.start_timeout_s
        while True:
            exit_code = proc.poll() if proc is not None else None
            if exit_code is not None or not self._alive(pid):
                code = f" (exit code {exit_code})" if exit_code is not None else ""
                raise KafkaBrokerError(
                    f"Kafka exited during start-up{code}: {last_log_line(s.broker_log, log_offset)} "
                    f"(log: {s.broker_log})"
                )
            if broker_answers(s.host, s.port, timeout_s=2.0):
                return
            if time.monotonic() > deadline:
                raise KafkaBrokerError(
                    f"Kafka did not answer on {s.bootstrap} within {s.start_timeout_s:.0f} s: "
                    f"{last_log_line(s.broker_log, log_offset)} (log: {s.broker_log})"
                )
            time.sleep(POLL_INTERVAL_S)

    # -- stop -------------------------------------------------------------------------------

    def stop(self) -> int | None:
        """Stop the broker this data dir's pid file names; return its pid, or None if none ran.

        Only a live ``java ... kafka.Kafka <this data dir's server.properties>`` process is
        signalled: SIGTERM, then SIGKILL after ``stop_timeout_s``. The pid file is removed.

        Raises
        ------
        KafkaBrokerError
            The process survived SIGKILL.
        """
        s = self.settings
        if not s.pid_path.exists():
            return None
        with self._exclusive():
            record = self.running_record()
            if record is None:
                return None
            self._terminate(record.pid)
            remove_pid_file(s.pid_path)
            return record.pid

    def _alive(self, pid: int) -> bool:
        if self._process is not None and self._process.pid == pid:
            return self._process.poll() is None  # reaps our own child and keeps its exit code
        return process_alive(pid)

    def _terminate(self, pid: int) -> None:
        if not self._signal(pid, signal.SIGTERM):
            return
        if self._wait_gone(pid, self.settings.stop_timeout_s):
            return
        waited = self.settings.stop_timeout_s
        self.log(f"Kafka (pid {pid}) ignored SIGTERM for {waited:.0f} s; sending SIGKILL")
        self._signal(pid, signal.SIGKILL)
        if not self._wait_gone(pid, KILL_WAIT_S):
            raise KafkaBrokerError(f"Kafka (pid {pid}) is still running after SIGKILL")

    @staticmethod
    def _signal(pid: int, signum: int) -> bool:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return False
        return True

    def _wait_gone(self, pid: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self._alive(pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True
