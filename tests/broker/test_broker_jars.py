from __future__ import annotations

import os
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from redline.broker.jars import (
    broker_jar_name,
    cached_kafka_jars,
    maven_error_line,
    render_pom,
    resolve_kafka_jars,
)
from redline.broker.settings import LOG4J2_VERSION
from redline.errors import KafkaBrokerError

NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def _write_script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def _deps(version: str) -> dict[tuple[str | None, str | None], str | None]:
    root = ET.fromstring(render_pom(version))
    return {
        (d.findtext("m:groupId", namespaces=NS), d.findtext("m:artifactId", namespaces=NS)): d.findtext(
            "m:version", namespaces=NS
        )
        for d in root.iterfind("m:dependencies/m:dependency", NS)
    }


def test_kafka_3_9_pom_depends_on_the_broker_and_the_reload4j_binding() -> None:
    deps = _deps("3.9.1")
    assert deps[("org.apache.kafka", "kafka_2.13")] == "3.9.1"
    assert ("org.slf4j", "slf4j-reload4j") in deps
    assert not any(group == "org.apache.logging.log4j" for group, _ in deps)


def test_kafka_4_pom_depends_on_the_broker_and_log4j2_behind_slf4j() -> None:
    deps = _deps("4.4.0")
    assert deps[("org.apache.kafka", "kafka_2.13")] == "4.4.0"
    assert deps[("org.apache.logging.log4j", "log4j-core")] == LOG4J2_VERSION
    assert deps[("org.apache.logging.log4j", "log4j-slf4j-impl")] == LOG4J2_VERSION
    assert ("org.slf4j", "slf4j-reload4j") not in deps


def test_cache_counts_only_when_the_broker_jar_is_there(tmp_path: Path) -> None:
    assert cached_kafka_jars(tmp_path, "3.9.1") is None
    (tmp_path / "libs").mkdir()
    (tmp_path / "libs" / "kafka-clients-3.9.1.jar").write_bytes(b"x")
    assert cached_kafka_jars(tmp_path, "3.9.1") is None
    (tmp_path / "libs" / broker_jar_name("3.9.1")).write_bytes(b"x")
    jars = cached_kafka_jars(tmp_path, "3.9.1")
    assert jars is not None
    assert jars.classpath == str(tmp_path / "libs" / "*")
    assert [p.name for p in jars.jars()] == ["kafka-clients-3.9.1.jar", "kafka_2.13-3.9.1.jar"]


def test_cached_jars_need_no_maven(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install = tmp_path / "kafka-3.9.1"
    (install / "libs").mkdir(parents=True)
    (install / "libs" / broker_jar_name("3.9.1")).write_bytes(b"x")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert resolve_kafka_jars(install, "3.9.1").libs_dir == install / "libs"


def test_missing_maven_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(KafkaBrokerError, match=r"Maven \(mvn\) is not on PATH"):
        resolve_kafka_jars(tmp_path / "kafka-3.9.1", "3.9.1")


def test_maven_error_line_picks_the_first_error_without_colour_codes() -> None:
    out = (
        "[INFO] x\n\x1b[1;31m[ERROR]\x1b[m Failed to execute goal: Could not transfer artifact\n"
        "[ERROR] more\n"
    )
    assert maven_error_line(out) == "Failed to execute goal: Could not transfer artifact"
    assert maven_error_line("just this") == "just this"
    assert maven_error_line("") == "no output"
    assert len(maven_error_line("[ERROR] " + "x" * 1000)) == 400


def test_failed_resolution_leaves_nothing_behind(tmp_path: Path) -> None:
    # a stand-in for mvn at the process boundary: writes a partial download, then fails
    mvn = _write_script(
        tmp_path / "mvn",
        'for a in "$@"; do case $a in -DoutputDirectory=*) d=${a#-DoutputDirectory=};; esac; done\n'
        'mkdir -p "$d" && echo partial > "$d/kafka-clients-3.9.1.jar"\n'
        'echo "[ERROR] Could not transfer artifact from/to central: Network is unreachable"; exit 1\n',
    )
    cache = tmp_path / "cache"
    with pytest.raises(KafkaBrokerError, match="Network is unreachable") as info:
        resolve_kafka_jars(cache / "kafka-3.9.1", "3.9.1", mvn=mvn)
    assert "\n" not in str(info.value)
    assert os.listdir(cache) == []  # no half download, no temp dir


def test_successful_resolution_is_renamed_into_place(tmp_path: Path) -> None:
    mvn = _write_script(
        tmp_path / "mvn",
        'for a in "$@"; do case $a in -DoutputDirectory=*) d=${a#-DoutputDirectory=};; esac; done\n'
        "test -f pom.xml || exit 3\n"
        'mkdir -p "$d" && echo j > "$d/kafka_2.13-3.9.1.jar" && echo j > "$d/kafka-clients-3.9.1.jar"\n',
    )
    install = tmp_path / "cache" / "kafka-3.9.1"
    jars = resolve_kafka_jars(install, "3.9.1", mvn=mvn, log=lambda _m: None)
    assert jars.libs_dir == install / "libs"
    assert len(jars.jars()) == 2
    assert sorted(os.listdir(tmp_path / "cache")) == ["kafka-3.9.1"]
    assert "kafka_2.13" in (install / "pom.xml").read_text()


def test_incomplete_resolution_is_refused(tmp_path: Path) -> None:
    mvn = _write_script(tmp_path / "mvn", "exit 0\n")
    with pytest.raises(KafkaBrokerError, match=r"kafka_2\.13-3\.9\.1\.jar is missing"):
        resolve_kafka_jars(tmp_path / "cache" / "kafka-3.9.1", "3.9.1", mvn=mvn)
    assert os.listdir(tmp_path / "cache") == []


@pytest.mark.integration
def test_unreachable_maven_central_is_one_clear_error(tmp_path: Path) -> None:
    """Real Maven, with an empty local repository and a mirror nobody listens on."""
    import shutil

    real_mvn = shutil.which("mvn")
    if real_mvn is None:
        pytest.skip("mvn not installed")
    settings = tmp_path / "settings.xml"
    settings.write_text(
        "<settings><mirrors><mirror><id>dead</id><mirrorOf>*</mirrorOf>"
        "<url>http://127.0.0.1:9/maven2</url></mirror></mirrors></settings>"
    )
    mvn = _write_script(
        tmp_path / "mvn-offline",
        f'exec "{real_mvn}" -s "{settings}" -Dmaven.repo.local="{tmp_path / "m2"}" "$@"\n',
    )
    with pytest.raises(KafkaBrokerError, match="is Maven Central reachable") as info:
        resolve_kafka_jars(tmp_path / "cache" / "kafka-3.9.1", "3.9.1", mvn=mvn)
    assert "\n" not in str(info.value)
    assert os.listdir(tmp_path / "cache") == []
