"""``redline worker`` refuses bad start-up input with one clear line and a non-zero exit."""

from __future__ import annotations

import pytest

from redline.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["worker"], "a worker needs a model"),
        (["worker", "--model", "/nonexistent/model"], "no model here"),
        (["worker", "--model", ".", "--bootstrap", "nohost"], "host:port"),
        (["worker", "--model", ".", "--threshold", "2"], "uncertainty_threshold"),
        (["worker", "--model", ".", "--judge-share", "1.5"], "judge_share"),
    ],
)
def test_worker_start_up_errors(argv, message, capsys, monkeypatch) -> None:
    for var in ("REDLINE_MODEL_DIR", "REDLINE_BOOTSTRAP"):
        monkeypatch.delenv(var, raising=False)
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("redline: error:") and message in err[0]


def test_worker_refuses_a_model_of_other_embeddings(tmp_path, capsys, monkeypatch) -> None:
    import numpy as np

    from redline.adapters.snapshot_store import FileSnapshotStore, Snapshot
    from redline.core.classifier import RedClassifier
    from redline.core.config import EngineConfig

    for var in ("REDLINE_MODEL_DIR", "REDLINE_BOOTSTRAP"):
        monkeypatch.delenv(var, raising=False)
    X = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32)
    texts = [f"t{i}" for i in range(12)]
    model = RedClassifier(EngineConfig(scorer="flat")).fit(X, texts, ["a", "b", "c"] * 4)
    folder = tmp_path / "m"
    meta = {"kind": "redline.RedClassifier", "embedder": "someone-else/model"}
    FileSnapshotStore(folder).save("", Snapshot(model.to_state(), meta))
    assert main(["worker", "--model", str(folder), "--bootstrap", "127.0.0.1:1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("redline: error:"), err
    assert f"{folder}: fitted on embeddings of someone-else/model, this run embeds with" in err[0]
