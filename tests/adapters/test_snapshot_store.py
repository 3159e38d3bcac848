"""Snapshot codec and the filesystem store: round trips, no pickle, damage detected."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from redline.adapters.snapshot_store import (
    ARRAYS_FILE,
    MANIFEST_FILE,
    FileSnapshotStore,
    Snapshot,
    decode_state,
    encode_state,
    snapshot_from_bytes,
    snapshot_to_bytes,
)
from redline.errors import ModelError


def _state() -> dict[str, object]:
    rng = np.random.default_rng(0)
    return {
        "format": "test/1",
        "config": {"C": 10.0, "seed": 3, "flag": True, "none": None, "inf": float("inf")},
        "classes": np.asarray(["b", "a", "caf\u00e9"]),
        "object_labels": np.asarray(["x", "y"], dtype=object),
        "coef": rng.normal(size=(3, 5)).astype(np.float32),
        "counts": np.arange(4, dtype=np.int64),
        "nested": [{"coef": rng.normal(size=(2, 2)), "n": np.int64(5), "p": np.float32(0.5)}],
        "pair": (1, "two"),
        "int_keys": {1: "one", 2: "two"},
        "raw": b"\x00\x01",
    }


def _assert_same(a: object, b: object) -> None:
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    elif isinstance(a, np.generic):
        assert a.item() == b
    else:
        assert a == b


def test_encode_decode_round_trip_is_exact() -> None:
    state = _state()
    tree, arrays = encode_state(state)
    json.dumps(tree, allow_nan=False)  # the tree is strict JSON
    _assert_same(state, decode_state(tree, arrays))


def test_unsupported_values_are_refused_with_their_path() -> None:
    with pytest.raises(ModelError, match=r"state\.nested\[0\]\.f: unsupported type object"):
        encode_state({"nested": [{"f": object()}]})
    with pytest.raises(ModelError, match="object array of non-strings"):
        encode_state({"a": np.asarray([1, "x"], dtype=object)})


def test_file_store_round_trip_and_layout(tmp_path: Path) -> None:
    store = FileSnapshotStore(tmp_path / "models")
    where = store.save("m1", Snapshot(_state(), {"kind": "test", "n": 3}))
    folder = Path(where)
    assert sorted(p.name for p in folder.iterdir()) == [ARRAYS_FILE, MANIFEST_FILE]
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    assert manifest["format"] == "redline-snapshot" and manifest["format_version"] == 1
    assert manifest["metadata"] == {"kind": "test", "n": 3}
    loaded = store.load("m1")
    _assert_same(_state(), loaded.state)
    assert loaded.metadata == {"kind": "test", "n": 3}
    # arrays load without pickle
    with np.load(folder / ARRAYS_FILE, allow_pickle=False) as npz:
        assert len(npz.files) == len(manifest["arrays"])


def test_overwrite_replaces_atomically_and_leaves_nothing_behind(tmp_path: Path) -> None:
    store = FileSnapshotStore(tmp_path / "model")
    store.save("", Snapshot({"v": 1}))
    store.save("", Snapshot({"v": 2}))
    assert store.load("").state == {"v": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_refuses_to_overwrite_a_folder_that_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.txt").write_text("precious")
    with pytest.raises(ModelError, match="not a redline model folder"):
        FileSnapshotStore(tmp_path / "docs").save("", Snapshot({"v": 1}))
    assert (tmp_path / "docs" / "thesis.txt").read_text() == "precious"


def test_damage_is_detected(tmp_path: Path) -> None:
    store = FileSnapshotStore(tmp_path)
    folder = Path(store.save("m", Snapshot({"a": np.ones(10)})))
    data = bytearray((folder / ARRAYS_FILE).read_bytes())
    data[-30] ^= 0xFF
    (folder / ARRAYS_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum mismatch"):
        store.load("m")
    with pytest.raises(ModelError, match="no model here"):
        store.load("absent")
    (folder / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(ModelError, match="broken manifest"):
        store.load("m")


def test_a_file_that_matches_its_digest_but_is_no_archive_says_why(tmp_path: Path) -> None:
    import hashlib
    import json

    store = FileSnapshotStore(tmp_path)
    folder = Path(store.save("m", Snapshot({"a": np.ones(10)})))
    (folder / ARRAYS_FILE).write_bytes(b"not a zip archive")
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["arrays_sha256"] = hashlib.sha256(b"not a zip archive").hexdigest()
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="cannot read the snapshot's arrays"):
        store.load("m")


def test_newer_format_version_is_refused(tmp_path: Path) -> None:
    store = FileSnapshotStore(tmp_path)
    folder = Path(store.save("m", Snapshot({"a": 1})))
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["format_version"] = 99
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="unsupported snapshot format version 99"):
        store.load("m")


def test_bytes_form_round_trips() -> None:
    snap = Snapshot(_state(), {"kind": "blob"})
    back = snapshot_from_bytes(snapshot_to_bytes(snap))
    _assert_same(snap.state, back.state)
    assert back.metadata == {"kind": "blob"}
    with pytest.raises(ModelError):
        snapshot_from_bytes(b"garbage")


def test_a_file_where_the_folder_should_be(tmp_path: Path) -> None:
    (tmp_path / "model").write_text("not a folder")
    with pytest.raises(ModelError, match="is a file, expected a model folder"):
        FileSnapshotStore(tmp_path / "model").save("", Snapshot({"v": 1}))
    with pytest.raises(ModelError, match="cannot create the model folder"):
        FileSnapshotStore(tmp_path / "model" / "inner").save("", Snapshot({"v": 1}))


@pytest.mark.parametrize("preset", ["default", "as-written", "hybrid", "flat-ngrams"])
def test_red_classifier_survives_the_store_exactly(tmp_path: Path, preset: str) -> None:
    from redline.core.classifier import RedClassifier
    from redline.core.config import EngineConfig

    rng = np.random.default_rng(0)
    n_labels, per_label, dim = 12, 10, 32
    centres = rng.normal(size=(n_labels, dim))
    X = np.repeat(centres, per_label, axis=0) + 0.6 * rng.normal(size=(n_labels * per_label, dim))
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    y = [f"label_{i // per_label}" for i in range(len(X))]
    texts = [f"word{i % 7} token{i // per_label} text {i}" for i in range(len(X))]
    model = RedClassifier(EngineConfig.named(preset, seed=3)).fit(X, texts, y)

    store = FileSnapshotStore(tmp_path)
    store.save("m", Snapshot(model.to_state(), {"kind": "redline.RedClassifier"}))
    loaded = RedClassifier.from_state(store.load("m").state)

    Xq = (X + 0.3 * rng.normal(size=X.shape)).astype(np.float32)
    Xq /= np.linalg.norm(Xq, axis=1, keepdims=True)
    assert loaded.classes_.tolist() == model.classes_.tolist()
    np.testing.assert_allclose(loaded.predict_proba(Xq, texts), model.predict_proba(Xq, texts), atol=1e-9)
