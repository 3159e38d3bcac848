"""Fixtures for the broker tests that need a process but no Kafka."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

FakeBrokerFactory = Callable[..., "subprocess.Popen[bytes]"]


@pytest.fixture
def fake_broker() -> Iterator[FakeBrokerFactory]:
    """Start Python processes whose command line reads ``java ... kafka.Kafka <properties>``.

    They pass the "is this our broker" check without being Kafka; all are killed afterwards.
    """
    started: list[subprocess.Popen[bytes]] = []

    def start(properties: str, *, ignore_sigterm: bool = False) -> subprocess.Popen[bytes]:
        code = "import signal, time\n"
        if ignore_sigterm:
            code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        code += "print('ready', flush=True)\ntime.sleep(120)\n"
        proc = subprocess.Popen(
            ["java", "-c", code, "kafka.Kafka", properties], executable=sys.executable, stdout=subprocess.PIPE
        )
        started.append(proc)
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
