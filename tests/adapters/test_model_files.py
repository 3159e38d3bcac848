"""redline.adapters.model_files: the one writer and reader of ``redline fit`` model folders."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from redline.adapters.model_files import (
    MODEL_KIND,
    FittedModel,
    check_embedder,
    read_model_folder,
    write_model_folder,
)
from redline.adapters.snapshot_store import FileSnapshotStore, Snapshot
from redline.core.classifier import RedClassifier
from redline.core.config import EngineConfig
from redline.errors import ModelError


@pytest.fixture(scope="module")
def model() -> RedClassifier:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 8)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    texts = [f"t{i}" for i in range(30)]
    return RedClassifier(EngineConfig(scorer="flat")).fit(X, texts, ["a", "b", "c"] * 10, {"a": "the a"})


def test_round_trip_with_a_content_version(model: RedClassifier, tmp_path: Path) -> None:
    where = write_model_folder(tmp_path / "m", model, {"embedder": "fake@1", "kind": "ignored"})
    fitted = read_model_folder(tmp_path / "m")
    assert isinstance(fitted, FittedModel) and where == str(tmp_path / "m") == str(fitted.folder)
    assert fitted.metadata == {"kind": MODEL_KIND, "embedder": "fake@1"}
    sha = json.loads((tmp_path / "m" / "manifest.json").read_text())["arrays_sha256"]
    assert sha == hashlib.sha256((tmp_path / "m" / "arrays.npz").read_bytes()).hexdigest()
    assert fitted.version == f"m@{sha[:12]}"
    X = np.asarray(model.X_[:5])
    np.testing.assert_array_equal(
        fitted.model.predict_proba(X, model.texts_[:5]), model.predict_proba(X, model.texts_[:5])
    )
    with pytest.raises(AttributeError):
        fitted.version = "other"  # type: ignore[misc]


def test_folder_without_kind_is_read_other_kinds_are_refused(model: RedClassifier, tmp_path: Path) -> None:
    FileSnapshotStore(tmp_path / "old").save("", Snapshot(model.to_state(), {"embedder": "fake@1"}))
    assert read_model_folder(tmp_path / "old").metadata == {"embedder": "fake@1"}
    FileSnapshotStore(tmp_path / "other").save("", Snapshot(model.to_state(), {"kind": "something.else"}))
    with pytest.raises(ModelError, match=r"other: not a redline classifier \(kind='something.else'\)"):
        read_model_folder(tmp_path / "other")


def test_missing_file_and_damaged_folders_are_one_line_errors(model: RedClassifier, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"nope: no model here \(missing manifest.json\)"):
        read_model_folder(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelError, match="file: is a file, expected a model folder"):
        read_model_folder(tmp_path / "file")
    state = model.to_state()
    del state["texts"]
    FileSnapshotStore(tmp_path / "broken").save("", Snapshot(state, {"kind": MODEL_KIND}))
    with pytest.raises(ModelError, match="broken: the model state is incomplete or damaged"):
        read_model_folder(tmp_path / "broken")


def test_check_embedder() -> None:
    class Embedder:
        model_id = "fake@1"

    check_embedder({"embedder": "fake@1"}, Embedder(), "m")
    check_embedder({}, Embedder(), "m")  # unknown: accepted
    with pytest.raises(ModelError, match="m: fitted on embeddings of other@2, this run embeds with fake@1"):
        check_embedder({"embedder": "other@2"}, Embedder(), "m")


def test_read_model_metadata_reads_the_manifest_only(tmp_path) -> None:
    """What a worker checks at start: the metadata, with the same one-line errors as a full read."""
    from redline.adapters.model_files import read_model_metadata

    folder = tmp_path / "m"
    X = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32)
    model = RedClassifier(EngineConfig(scorer="flat")).fit(
        X, [f"t{i}" for i in range(12)], ["a", "b", "c"] * 4
    )
    write_model_folder(folder, model, {"embedder": "fake@1", "uncertainty_quantiles": [0.1, 0.5]})
    (folder / "arrays.npz").unlink(missing_ok=True)  # not read
    meta = read_model_metadata(folder)
    assert meta["embedder"] == "fake@1" and meta["uncertainty_quantiles"] == [0.1, 0.5]
    with pytest.raises(ModelError, match="missing manifest"):
        read_model_metadata(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelError, match="is a file"):
        read_model_metadata(tmp_path / "file")
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="broken manifest"):
        read_model_metadata(folder)
