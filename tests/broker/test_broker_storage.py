from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from redline.broker.security import BrokerSasl, SaslUser
from redline.broker.settings import TESTED_KAFKA_VERSIONS, BrokerSettings
from redline.broker.storage import (
    check_format_record,
    formatted_cluster_id,
    is_cluster_id,
    new_cluster_id,
    scram_arguments,
    scram_digest,
)
from redline.errors import KafkaBrokerError

CID = "xNGeieUqRh-UuNiL-5X1vw"


def _meta(log_dirs: Path, text: str) -> None:
    log_dirs.mkdir(parents=True, exist_ok=True)
    (log_dirs / "meta.properties").write_text(text)


def _check(tmp_path: Path) -> str | None:
    return formatted_cluster_id(tmp_path, tmp_path / "logs", tmp_path / "cluster.id")


def test_new_cluster_ids_look_like_kafka_uuids() -> None:
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(is_cluster_id(c) and not c.startswith("-") for c in ids)
    assert not is_cluster_id("not-a-cluster-id")


def test_empty_data_dir_is_not_formatted(tmp_path: Path) -> None:
    assert _check(tmp_path) is None
    (tmp_path / "logs").mkdir()
    assert _check(tmp_path) is None


def test_formatted_dir_reports_its_cluster_id_and_records_it(tmp_path: Path) -> None:
    _meta(tmp_path / "logs", f"#\nnode.id=1\ndirectory.id=abc\nversion=1\ncluster.id={CID}\n")
    assert _check(tmp_path) == CID
    assert (tmp_path / "cluster.id").read_text().strip() == CID
    assert _check(tmp_path) == CID  # and again, now against the record


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ("\x00\x01\x02 garbage without equals\n", "unreadable meta.properties"),
        ("node.id=1\nversion=1\n", "no valid cluster.id"),
        ("node.id=1\nversion=1\ncluster.id=short\n", "no valid cluster.id"),
        (f"node.id=1\nversion=0\ncluster.id={CID}\n", "version '0'"),
        (f"node.id=7\nversion=1\ncluster.id={CID}\n", "node.id '7'"),
    ],
)
def test_garbage_meta_properties_is_a_corrupt_data_dir(tmp_path: Path, meta: str, message: str) -> None:
    _meta(tmp_path / "logs", meta)
    with pytest.raises(KafkaBrokerError, match=message) as info:
        _check(tmp_path)
    assert "is corrupt" in str(info.value) and "delete it" in str(info.value)
    assert "\n" not in str(info.value)


def test_cluster_id_mismatch_is_refused(tmp_path: Path) -> None:
    _meta(tmp_path / "logs", f"node.id=1\nversion=1\ncluster.id={CID}\n")
    (tmp_path / "cluster.id").write_text("AAAAAAAAAAAAAAAAAAAAAQ\n")
    with pytest.raises(KafkaBrokerError, match="cluster id mismatch"):
        _check(tmp_path)


def test_garbage_cluster_id_record_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cluster.id").write_text("??\n")
    with pytest.raises(KafkaBrokerError, match="does not hold a cluster id"):
        _check(tmp_path)


def test_data_without_meta_properties_is_refused(tmp_path: Path) -> None:
    (tmp_path / "logs" / "smoke-0").mkdir(parents=True)
    with pytest.raises(KafkaBrokerError, match=r"holds data but no meta\.properties"):
        _check(tmp_path)


@pytest.mark.integration
@pytest.mark.parametrize("version", TESTED_KAFKA_VERSIONS)
def test_real_storage_tool_formats_once_with_scram_users(tmp_path: Path, version: str) -> None:
    """Kafka's own StorageTool (both releases) writes the meta.properties our check accepts and takes
    ``--add-scram``; a second call skips it; a downgrade or other SCRAM users are then refused."""
    from redline.broker import BrokerSettings, LocalKafkaBroker
    from redline.broker.java import find_java
    from redline.broker.properties import logging_properties, render_properties, server_properties
    from redline.broker.storage import ensure_formatted

    if shutil.which("java") is None:
        pytest.skip("java not installed")
    sasl = BrokerSasl(port=1113, users=(SaslUser("alice", "pw=1"), SaslUser("bob", "pw2")))
    s = BrokerSettings(data_dir=tmp_path, kafka_version=version, sasl=sasl)
    jars = LocalKafkaBroker(s, log=lambda _m: None).fetch()
    s.properties_path.write_text(
        render_properties(
            server_properties(host=s.host, port=1111, controller_port=1112, log_dirs=s.log_dirs, sasl=sasl)
        )
    )
    s.log4j_path.write_text(render_properties(logging_properties(log4j2=s.uses_log4j2)))
    java = find_java()
    cid = ensure_formatted(s, java=java, classpath=jars.classpath)
    assert is_cluster_id(cid)
    # the bootstrap records (SCRAM users among them): 3.9 writes bootstrap.checkpoint, 4.x a 0-0
    # snapshot of the metadata log
    assert [*s.log_dirs.glob("bootstrap.checkpoint"), *s.log_dirs.glob("__cluster_metadata-0/*.checkpoint")]
    assert json.loads(s.format_record_path.read_text())["kafka_version"] == version
    stamp = (s.log_dirs / "meta.properties").stat().st_mtime_ns
    assert ensure_formatted(s, java=java, classpath=jars.classpath) == cid
    assert (s.log_dirs / "meta.properties").stat().st_mtime_ns == stamp
    other = replace(s, sasl=BrokerSasl(port=1113, users=(SaslUser("alice", "changed"),)))
    with pytest.raises(KafkaBrokerError, match="other SCRAM users"):
        ensure_formatted(other, java=java, classpath=jars.classpath)
    assert ensure_formatted(replace(s, sasl=None), java=java, classpath=jars.classpath) == cid


def _formatted(tmp_path: Path, record: dict[str, str] | None, **kwargs: object) -> BrokerSettings:
    s = BrokerSettings(data_dir=tmp_path, cache_dir=tmp_path, **kwargs)  # type: ignore[arg-type]
    _meta(s.log_dirs, f"cluster.id={CID}\nversion=1\nnode.id=1\n")
    if record is not None:
        s.format_record_path.write_text(json.dumps(record))
    return s


def test_a_newer_release_s_storage_is_refused(tmp_path: Path) -> None:
    s = _formatted(tmp_path, {"kafka_version": "4.4.0"}, kafka_version="3.9.1")
    with pytest.raises(KafkaBrokerError, match=r"by Kafka 4\.4\.0, which Kafka 3\.9\.1 cannot read"):
        check_format_record(s, CID)
    check_format_record(replace(s, kafka_version="4.4.0"), CID)  # same release
    s = _formatted(tmp_path, {"kafka_version": "3.9.1"}, kafka_version="4.4.0")
    check_format_record(s, CID)  # an upgrade is fine


def test_storage_without_a_format_record_counts_as_3_9_without_scram_users(tmp_path: Path) -> None:
    s = _formatted(tmp_path, None, kafka_version="3.9.1")
    check_format_record(s, CID)
    sasl = BrokerSasl(port=1113, users=(SaslUser("alice", "pw"),))
    with pytest.raises(KafkaBrokerError, match="other SCRAM users"):
        check_format_record(replace(s, sasl=sasl), CID)
    check_format_record(replace(s, sasl=replace(sasl, mechanisms=("PLAIN",))), CID)  # PLAIN: no SCRAM


def test_scram_arguments_name_every_user_for_each_scram_mechanism() -> None:
    sasl = BrokerSasl(
        port=1, users=(SaslUser("a", "x=y"), SaslUser("b", "z")), mechanisms=("SCRAM-SHA-512", "PLAIN")
    )
    assert scram_arguments(sasl) == [
        "--add-scram", "SCRAM-SHA-512=[name=a,password=x=y]",
        "--add-scram", "SCRAM-SHA-512=[name=b,password=z]",
    ]  # fmt: skip
    assert scram_arguments(None) == []


def test_scram_digest_changes_with_any_user_password_or_cluster() -> None:
    base = BrokerSasl(port=1, users=(SaslUser("a", "x"),))
    digest = scram_digest(base, CID)
    assert digest == scram_digest(replace(base, port=2), CID)
    assert digest != scram_digest(BrokerSasl(port=1, users=(SaslUser("a", "y"),)), CID)
    assert digest != scram_digest(base, "yNGeieUqRh-UuNiL-5X1vw")
    assert scram_digest(None, CID) == scram_digest(replace(base, mechanisms=("PLAIN",)), CID)
    assert "x" not in digest
