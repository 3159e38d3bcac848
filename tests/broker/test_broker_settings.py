from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from redline.broker.settings import KAFKA_VERSION, BrokerSettings, default_cache_dir, default_data_dir
from redline.errors import ConfigError


def test_kafka_version_is_pinned_to_the_3_9_line() -> None:
    assert KAFKA_VERSION == "3.9.1"


def test_cache_dir_honours_redline_cache_dir(tmp_path: Path) -> None:
    env = {"REDLINE_CACHE_DIR": str(tmp_path / "c")}
    assert default_cache_dir(env) == tmp_path / "c"


def test_cache_dir_defaults_to_the_shared_redline_cache() -> None:
    assert default_cache_dir({}) == Path.home() / ".cache" / "redline"
    assert default_cache_dir({"REDLINE_CACHE_DIR": ""}) == Path.home() / ".cache" / "redline"


def test_default_data_dir_is_under_the_given_directory(tmp_path: Path) -> None:
    assert default_data_dir(tmp_path) == tmp_path / ".redline" / "kafka"


def test_paths_derive_from_data_and_cache_dirs(tmp_path: Path) -> None:
    s = BrokerSettings(data_dir=tmp_path / "d", port=19092, cache_dir=tmp_path / "c")
    assert s.bootstrap == "127.0.0.1:19092"
    assert s.install_dir == tmp_path / "c" / f"kafka-{KAFKA_VERSION}"
    assert s.properties_path.parent == s.log_dirs.parent == s.pid_path.parent == tmp_path / "d"


def test_relative_data_dir_becomes_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert BrokerSettings(data_dir=Path("rel"), cache_dir=tmp_path).data_dir == tmp_path / "rel"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"port": 0}, "between 1 and 65535"),
        ({"port": 70000}, "between 1 and 65535"),
        ({"heap": "lots"}, "512m"),
        ({"heap": "0m"}, "512m"),
        ({"start_timeout_s": 0}, "positive"),
    ],
)
def test_invalid_settings_are_refused(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BrokerSettings(data_dir=tmp_path, cache_dir=tmp_path, **kwargs)  # type: ignore[arg-type]


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = BrokerSettings(data_dir=tmp_path, cache_dir=tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.port = 1  # type: ignore[misc]


def test_broker_settings_load_without_pydantic() -> None:
    """``redline kafka`` registers its flags from these constants at every CLI start: keep them light."""
    code = "import sys, redline.broker, redline.commands.kafka; print('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
