"""docker-compose.yml and Dockerfile cannot run here (no Docker daemon); keep them consistent."""

from __future__ import annotations

from pathlib import Path

import pytest

from redline.broker import KAFKA_VERSION
from redline.broker.settings import KAFKA_VERSION_ENV
from redline.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict:  # type: ignore[type-arg]
    yaml = pytest.importorskip("yaml")
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_runs_the_pinned_official_kafka_image_in_kraft_mode(compose: dict) -> None:  # type: ignore[type-arg]
    kafka = compose["services"]["kafka"]
    # the default release of `redline kafka`, another one through the same variable
    assert kafka["image"] == f"apache/kafka:${{{KAFKA_VERSION_ENV}:-{KAFKA_VERSION}}}"
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert "PLAINTEXT://kafka:19092" in env["KAFKA_ADVERTISED_LISTENERS"]


def test_compose_worker_is_built_here_and_runs_redline_worker(compose: dict) -> None:  # type: ignore[type-arg]
    worker = compose["services"]["worker"]
    assert worker["build"] == "."
    assert worker["environment"]["REDLINE_BOOTSTRAP"] == "kafka:19092"
    assert worker["depends_on"]["kafka"]["condition"] == "service_healthy"
    args = build_parser().parse_args(worker["command"])
    assert args.command == "worker"


def test_compose_worker_variables_are_ones_the_worker_reads(compose: dict) -> None:  # type: ignore[type-arg]
    settings = pytest.importorskip("redline.streams.settings")
    known = set(settings.ENV_VARS.values())
    redline_vars = {k for k in compose["services"]["worker"]["environment"] if k.startswith("REDLINE_")}
    assert redline_vars <= known


def test_dockerfile_installs_the_package_and_enters_the_cli() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("#") and "\nFROM python:3.11" in text
    assert "RUN pip install ." in text
    assert 'ENTRYPOINT ["redline"]' in text
    assert 'CMD ["worker"]' in text
    ignored = (ROOT / ".dockerignore").read_text()
    assert "!redline/" in ignored and "!pyproject.toml" in ignored
