from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from redline.broker.storage import formatted_cluster_id, is_cluster_id, new_cluster_id
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
def test_real_storage_tool_formats_once(tmp_path: Path) -> None:
    """Kafka's own StorageTool writes the meta.properties our check accepts; a second call skips it."""
    from redline.broker import BrokerSettings, LocalKafkaBroker
    from redline.broker.java import find_java
    from redline.broker.properties import log4j_properties, render_properties, server_properties
    from redline.broker.storage import ensure_formatted

    if shutil.which("java") is None:
        pytest.skip("java not installed")
    s = BrokerSettings(data_dir=tmp_path)
    jars = LocalKafkaBroker(s, log=lambda _m: None).fetch()
    s.properties_path.write_text(
        render_properties(
            server_properties(host=s.host, port=1111, controller_port=1112, log_dirs=s.log_dirs)
        )
    )
    s.log4j_path.write_text(render_properties(log4j_properties()))
    kwargs = {
        "java": find_java(),
        "classpath": jars.classpath,
        "data_dir": s.data_dir,
        "log_dirs": s.log_dirs,
        "cluster_id_path": s.cluster_id_path,
        "properties_path": s.properties_path,
        "log4j_path": s.log4j_path,
    }
    cid = ensure_formatted(**kwargs)  # type: ignore[arg-type]
    assert is_cluster_id(cid)
    assert (s.log_dirs / "bootstrap.checkpoint").is_file()
    stamp = (s.log_dirs / "meta.properties").stat().st_mtime_ns
    assert ensure_formatted(**kwargs) == cid  # type: ignore[arg-type]
    assert (s.log_dirs / "meta.properties").stat().st_mtime_ns == stamp
