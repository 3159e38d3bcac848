"""``redline worker`` refuses bad start-up input with one clear line and a non-zero exit."""

from __future__ import annotations

import pytest

from redline.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["worker"], "a worker needs a model"),
        (["worker", "--model", "/nonexistent/model"], "no such model folder"),
        (["worker", "--model", ".", "--bootstrap", "nohost"], "host:port"),
        (["worker", "--model", ".", "--threshold", "2"], "uncertainty_threshold"),
    ],
)
def test_worker_start_up_errors(argv, message, capsys, monkeypatch) -> None:
    for var in ("REDLINE_MODEL_DIR", "REDLINE_BOOTSTRAP"):
        monkeypatch.delenv(var, raising=False)
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("redline: error:") and message in err[0]
