"""Formatting the broker's KRaft storage once, and refusing a data dir that is not ours.

``kafka.tools.StorageTool format`` writes ``meta.properties`` (cluster id, node id) and the
bootstrap checkpoint into ``log.dirs``. Kafka 3.9 with a static controller quorum
(``controller.quorum.voters``) wants an explicit ``--cluster-id``; ``--standalone`` is for the
dynamic quorum only. The id is also kept in ``<data dir>/cluster.id`` so a restart can tell a
formatted data dir from a foreign or damaged one.
"""

from __future__ import annotations

import base64
import re
import subprocess
import uuid
from pathlib import Path

from redline.broker.properties import NODE_ID, parse_properties
from redline.errors import KafkaBrokerError

_CLUSTER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")


def new_cluster_id() -> str:
    """A random Kafka cluster id: 16 random bytes, URL-safe base64 without padding.

    Like ``org.apache.kafka.common.Uuid.randomUuid`` it never starts with ``-`` (it would read as a
    command-line option).
    """
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not cid.startswith("-"):
            return cid


def is_cluster_id(text: str) -> bool:
    """True iff ``text`` has the shape of a Kafka cluster id."""
    return bool(_CLUSTER_ID_RE.match(text))


def _corrupt(data_dir: Path, reason: str) -> KafkaBrokerError:
    return KafkaBrokerError(
        f"Kafka data dir {data_dir} is corrupt: {reason}; delete it to start afresh "
        "(all topics in it are lost) or pass another --data-dir"
    )


def formatted_cluster_id(data_dir: Path, log_dirs: Path, cluster_id_path: Path) -> str | None:
    """The cluster id ``log_dirs`` is formatted for, or None when it is not formatted yet.

    Raises
    ------
    KafkaBrokerError
        ``meta.properties`` is unreadable or inconsistent, the cluster id does not match the one
        recorded for the data dir, or the log dir holds data without ``meta.properties``.
    """
    expected: str | None = None
    if cluster_id_path.exists():
        expected = cluster_id_path.read_text(encoding="utf-8", errors="replace").strip()
        if not is_cluster_id(expected):
            raise _corrupt(data_dir, f"{cluster_id_path.name} does not hold a cluster id")
    meta_path = log_dirs / "meta.properties"
    if not meta_path.exists():
        if log_dirs.exists() and any(log_dirs.iterdir()):
            raise _corrupt(data_dir, f"{log_dirs} holds data but no meta.properties")
        return None
    try:
        meta = parse_properties(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _corrupt(data_dir, f"unreadable meta.properties ({exc})") from None
    cluster_id = meta.get("cluster.id", "")
    if meta.get("version") != "1":
        raise _corrupt(data_dir, f"meta.properties has version {meta.get('version')!r}, not a KRaft 1")
    if not is_cluster_id(cluster_id):
        raise _corrupt(data_dir, f"meta.properties has no valid cluster.id ({cluster_id!r})")
    if meta.get("node.id") != str(NODE_ID):
        raise _corrupt(data_dir, f"meta.properties has node.id {meta.get('node.id')!r}, expected {NODE_ID}")
    if expected is not None and expected != cluster_id:
        raise _corrupt(
            data_dir,
            f"cluster id mismatch: meta.properties says {cluster_id}, {cluster_id_path.name} says {expected}",
        )
    if expected is None:
        cluster_id_path.write_text(cluster_id + "\n", encoding="utf-8")
    return cluster_id


def ensure_formatted(
    *,
    java: str,
    classpath: str,
    data_dir: Path,
    log_dirs: Path,
    cluster_id_path: Path,
    properties_path: Path,
    log4j_path: Path,
) -> str:
    """Format the KRaft storage unless it already is; return the cluster id.

    Raises
    ------
    KafkaBrokerError
        The data dir is corrupt (see :func:`formatted_cluster_id`) or formatting failed.
    """
    existing = formatted_cluster_id(data_dir, log_dirs, cluster_id_path)
    if existing is not None:
        return existing
    cluster_id = (
        cluster_id_path.read_text(encoding="utf-8").strip() if cluster_id_path.exists() else new_cluster_id()
    )
    cmd = [
        java, "-Xmx256m", "-cp", classpath, f"-Dlog4j.configuration={log4j_path.as_uri()}",
        "kafka.tools.StorageTool", "format", "--cluster-id", cluster_id, "--config", str(properties_path),
    ]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KafkaBrokerError(f"formatting the Kafka storage in {log_dirs} failed: {exc}") from exc
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        raise KafkaBrokerError(
            f"formatting the Kafka storage in {log_dirs} failed: {lines[-1] if lines else 'no output'}"
        )
    cluster_id_path.write_text(cluster_id + "\n", encoding="utf-8")
    return cluster_id
