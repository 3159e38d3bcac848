"""Formatting the broker's KRaft storage once, and refusing a data dir that is not ours.

``kafka.tools.StorageTool format`` writes ``meta.properties`` (cluster id, node id) and the
bootstrap checkpoint into ``log.dirs``. Kafka 3.9 and 4.x with a static controller quorum
(``controller.quorum.voters``) want an explicit ``--cluster-id``; ``--standalone`` is for the
dynamic quorum only. SCRAM users go into the bootstrap checkpoint with ``--add-scram`` (both
releases have it), so they are fixed at format time. The id is also kept in
``<data dir>/cluster.id`` so a restart can tell a formatted data dir from a foreign or damaged one,
and ``<data dir>/format.json`` records the Kafka release and a digest of the SCRAM users the
storage was formatted with: an older release cannot read a newer one's metadata log, and other
SCRAM users would silently not exist.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import uuid
from pathlib import Path

from redline.broker.properties import NODE_ID, parse_properties
from redline.broker.security import BrokerSasl
from redline.broker.settings import BrokerSettings, kafka_release
from redline.errors import ConfigError, InputDataError, KafkaBrokerError

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
    except (OSError, UnicodeDecodeError, InputDataError) as exc:
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


def scram_arguments(sasl: BrokerSasl | None) -> list[str]:
    """``--add-scram`` arguments of ``StorageTool format``: every user, for each SCRAM mechanism."""
    if sasl is None:
        return []
    return [
        arg
        for mechanism in sasl.scram_mechanisms
        for user in sasl.users
        for arg in ("--add-scram", f"{mechanism}=[name={user.name},password={user.password}]")
    ]


def scram_digest(sasl: BrokerSasl | None, cluster_id: str) -> str:
    """A SHA-256 over the SCRAM mechanisms, names and passwords (salted with the cluster id)."""
    entries = sorted(
        (mechanism, user.name, user.password)
        for mechanism in (sasl.scram_mechanisms if sasl is not None else ())
        for user in (sasl.users if sasl is not None else ())
    )
    return hashlib.sha256(json.dumps([cluster_id, entries]).encode("utf-8")).hexdigest()


def _read_format_record(path: Path) -> dict[str, str] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def check_format_record(settings: BrokerSettings, cluster_id: str) -> None:
    """Refuse a formatted data dir this start cannot use as asked.

    Raises
    ------
    KafkaBrokerError
        The storage was formatted by a newer Kafka release than ``settings.kafka_version``, or
        with other SCRAM users than ``settings.sasl`` names.
    """
    record = _read_format_record(settings.format_record_path)
    if record is None:  # formatted before redline kept the record: Kafka 3.9, no SCRAM users
        record = {}
    formatted_by = record.get("kafka_version", "")
    try:
        newer = bool(formatted_by) and kafka_release(formatted_by) > kafka_release(settings.kafka_version)
    except ConfigError:
        newer = False
    if newer:
        raise KafkaBrokerError(
            f"Kafka data dir {settings.data_dir} was formatted by Kafka {formatted_by}, which Kafka "
            f"{settings.kafka_version} cannot read; use --kafka-version {formatted_by} or delete the "
            "data dir (all topics in it are lost)"
        )
    wanted = settings.sasl.scram_mechanisms if settings.sasl is not None else ()
    if wanted and record.get("scram_users", scram_digest(None, cluster_id)) != scram_digest(
        settings.sasl, cluster_id
    ):
        raise KafkaBrokerError(
            f"Kafka data dir {settings.data_dir} was formatted with other SCRAM users; SCRAM users are "
            "fixed when the storage is formatted: pass the same --sasl-user values or delete the "
            "data dir (all topics in it are lost)"
        )


def ensure_formatted(settings: BrokerSettings, *, java: str, classpath: str) -> str:
    """Format the KRaft storage unless it already is; return the cluster id.

    Parameters
    ----------
    settings : BrokerSettings
        The data dir, its ``server.properties`` and logging configuration (both written already),
        the Kafka release and the SCRAM users.
    java, classpath : str
        The Java executable and the broker's class path.

    Raises
    ------
    KafkaBrokerError
        The data dir is corrupt (see :func:`formatted_cluster_id`), cannot serve this start (see
        :func:`check_format_record`) or formatting failed.
    """
    s = settings
    existing = formatted_cluster_id(s.data_dir, s.log_dirs, s.cluster_id_path)
    if existing is not None:
        check_format_record(s, existing)
        return existing
    cluster_id = (
        s.cluster_id_path.read_text(encoding="utf-8").strip()
        if s.cluster_id_path.exists()
        else new_cluster_id()
    )
    cmd = [
        java, "-Xmx256m", *s.jit_jvm_flags, "-cp", classpath, s.logging_jvm_flag,
        "kafka.tools.StorageTool", "format", "--cluster-id", cluster_id, "--config", str(s.properties_path),
        *scram_arguments(s.sasl),
    ]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KafkaBrokerError(f"formatting the Kafka storage in {s.log_dirs} failed: {exc}") from exc
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        lines = [line for line in lines if not line.startswith(("at ", "SLF4J:"))]
        raise KafkaBrokerError(
            f"formatting the Kafka storage in {s.log_dirs} failed: {lines[-1] if lines else 'no output'}"
        )
    s.cluster_id_path.write_text(cluster_id + "\n", encoding="utf-8")
    record = {"kafka_version": s.kafka_version, "scram_users": scram_digest(s.sasl, cluster_id)}
    s.format_record_path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return cluster_id
