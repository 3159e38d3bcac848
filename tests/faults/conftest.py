"""Fixtures of the fault scenarios: the stream test helpers on the path, one fitted model folder.

Tests marked ``faults`` but not ``integration`` run only when the marker expression names them
(``make test-faults`` runs ``-m faults``); plain ``make test`` skips them (its budget is 30 minutes).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "streams"))  # worker_processes

from stream_world import msg_fixture, world  # noqa: F401  (pytest fixtures)
from worker_processes import Fitted, fit_folder


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "faults" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="a fault scenario: run it with `make test-faults`")
    for item in items:
        if item.get_closest_marker("faults") and not item.get_closest_marker("integration"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    """A model folder fitted on 8 CLINC150 labels (10 seed texts each) and the simulated judge's truth."""
    return fit_folder(tmp_path_factory.mktemp("fitted"), n_classes=8)
