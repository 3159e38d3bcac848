"""The pid file of a started broker, and checking that a pid really is that broker."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

#: the JVM main class every broker we start runs
BROKER_MAIN_CLASS = "kafka.Kafka"


@dataclass(frozen=True)
class BrokerRecord:
    """What ``start`` records about the broker it launched.

    Parameters
    ----------
    pid : int
        The JVM's process id.
    port, controller_port : int
        Its client and controller ports.
    properties : str
        Absolute path of the ``server.properties`` it was started with: the pid check looks
        for it on the process's command line.
    kafka_version : str
        The Kafka release it runs.
    listeners : dict, optional
        Security protocol -> ``host:port`` of its client listeners (None in pid files written before
        redline recorded them).
    """

    pid: int
    port: int
    controller_port: int
    properties: str
    kafka_version: str
    listeners: dict[str, str] | None = None


def write_pid_file(path: Path, record: BrokerRecord) -> None:
    """Write ``record`` to ``path`` atomically (temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(asdict(record), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_pid_file(path: Path) -> BrokerRecord | None:
    """The record in ``path``; None when the file is missing or garbled (it is then stale)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        record = BrokerRecord(
            pid=int(data["pid"]),
            port=int(data["port"]),
            controller_port=int(data["controller_port"]),
            properties=str(data["properties"]),
            kafka_version=str(data["kafka_version"]),
            listeners=_listeners(data.get("listeners")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if record.pid > 0 else None


def _listeners(value: object) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    return {str(k): str(v) for k, v in value.items()}


def remove_pid_file(path: Path) -> None:
    """Delete ``path`` if it exists."""
    path.unlink(missing_ok=True)


def process_alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie.

    A broker started by this very process (the test fixture) is our child: when it has exited
    it is reaped here, so it does not linger as a zombie that ``kill -0`` still reports.
    """
    if pid <= 0:
        return False
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass  # not our child: the normal case for the CLI
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        return state not in ("Z", "X")
    return True


def process_command_line(pid: int) -> list[str] | None:
    """The argv of process ``pid`` (``/proc`` on Linux, ``ps`` elsewhere); None if unknown."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        raw = cmdline.read_bytes()
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return None  # Linux: the process is gone
        raw = b""
    except OSError:
        return None
    if raw:
        return [part.decode("utf-8", errors="replace") for part in raw.split(b"\0") if part]
    try:
        done = subprocess.run(
            ["ps", "-p", str(pid), "-o", "command="], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    text = done.stdout.strip()
    return text.split() if done.returncode == 0 and text else None


def is_our_broker(pid: int, properties: str) -> bool:
    """True iff ``pid`` is alive and is a ``java ... kafka.Kafka <properties>`` process."""
    if not process_alive(pid):
        return False
    argv = process_command_line(pid)
    if not argv:
        return False
    if not Path(argv[0]).name.startswith("java"):
        return False
    if BROKER_MAIN_CLASS in argv and properties in argv:
        return True
    joined = " ".join(argv)  # from `ps`, where arguments containing spaces come back split
    return f" {BROKER_MAIN_CLASS} " in joined and joined.endswith(f" {properties}")
