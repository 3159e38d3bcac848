"""Finding a Java runtime able to run the broker."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from redline.errors import KafkaBrokerError

#: Kafka 3.9 brokers need Java 11 or newer (Kafka 4.x: 17, see ``settings.min_java_major``)
MIN_JAVA_MAJOR = 11

_VERSION_RE = re.compile(r'version "(\d+)(?:\.(\d+))?')


def parse_java_major(version_output: str) -> int | None:
    """The major version in ``java -version`` output (``1.8.0_x`` -> 8, ``17.0.2`` -> 17)."""
    match = _VERSION_RE.search(version_output)
    if match is None:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2) is not None:
        return int(match.group(2))
    return major


def find_java(environ: Mapping[str, str] | None = None, *, min_major: int = MIN_JAVA_MAJOR) -> str:
    """The ``java`` executable: ``$JAVA_HOME/bin/java`` if it exists, else ``java`` on PATH.

    Raises
    ------
    KafkaBrokerError
        No Java, a Java that does not run, or one older than ``min_major``.
    """
    env = os.environ if environ is None else environ
    java: str | None = None
    if env.get("JAVA_HOME"):
        candidate = Path(env["JAVA_HOME"]) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            java = str(candidate)
    if java is None:
        java = shutil.which("java", path=env.get("PATH"))
    if java is None:
        raise KafkaBrokerError(
            f"Java is not installed (no `java` on PATH, no usable JAVA_HOME); the Kafka broker needs "
            f"Java {min_major}+ (e.g. `apt-get install openjdk-17-jre-headless`)"
        )
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KafkaBrokerError(f"cannot run Java at {java}: {exc}") from exc
    major = parse_java_major(done.stderr + done.stdout)
    if done.returncode != 0 or major is None:
        first = (done.stderr or done.stdout).strip().splitlines()[:1]
        raise KafkaBrokerError(f"`{java} -version` failed: {first[0] if first else 'no output'}")
    if major < min_major:
        raise KafkaBrokerError(
            f"Java {major} at {java} is too old; this Kafka broker needs Java {min_major}+ "
            "(Kafka 4.x: 17, Kafka 3.9: 11; set JAVA_HOME to a newer one)"
        )
    return java
