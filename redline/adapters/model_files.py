"""Model folders written by ``redline fit``: the one writer and the one reader (predict, worker).

A model folder is a :class:`~redline.adapters.snapshot_store.FileSnapshotStore` snapshot
(``manifest.json`` + ``arrays.npz``) of a :class:`~redline.core.classifier.RedClassifier` state,
with metadata whose ``kind`` is :data:`MODEL_KIND`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redline.adapters.snapshot_store import MANIFEST_FILE, FileSnapshotStore, Snapshot
from redline.errors import ModelError

if TYPE_CHECKING:
    from redline.core.classifier import RedClassifier

#: the ``kind`` a model folder's metadata carries
MODEL_KIND = "redline.RedClassifier"


@dataclass(frozen=True)
class FittedModel:
    """A classifier read from a model folder.

    Attributes
    ----------
    model : RedClassifier
        The classifier, ready to score.
    version : str
        ``<folder name>@<first 12 hex digits of the arrays' SHA-256>``: the same folder contents
        give the same version.
    metadata : dict
        What ``redline fit`` recorded (embedder, preset, uncertainty quantiles, ...).
    folder : Path
        Where it was read from.
    """

    model: RedClassifier
    version: str
    metadata: dict[str, Any]
    folder: Path


def write_model_folder(folder: str | Path, model: RedClassifier, metadata: Mapping[str, Any]) -> str:
    """Write ``model`` and ``metadata`` (plain JSON data) as a model folder, atomically.

    ``kind`` is set to :data:`MODEL_KIND`. Returns the folder written.

    Raises
    ------
    ModelError
        The folder cannot be written, or exists and is not a model folder.
    """
    meta = {"kind": MODEL_KIND, **metadata}
    meta["kind"] = MODEL_KIND
    return FileSnapshotStore(folder).save("", Snapshot(model.to_state(), meta))


def read_model_folder(folder: str | Path) -> FittedModel:
    """Read a model folder written by :func:`write_model_folder` (``redline fit``).

    Raises
    ------
    ModelError
        One line naming the folder: missing, not a model folder, of another kind, or damaged.
    """
    # deferred: the classifier pulls in scipy.sparse (about 0.15 s); `redline --help` need not pay for it
    from redline.core.classifier import RedClassifier

    path = _folder_path(folder)
    snapshot = FileSnapshotStore(path).load("")  # a missing folder: "no model here (missing manifest.json)"
    metadata = _of_kind(path, snapshot.metadata)
    try:
        model = RedClassifier.from_state(snapshot.state)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: the model state is incomplete or damaged ({exc!r})") from exc
    return FittedModel(model, f"{path.name}@{_digest(path)[:12]}", metadata, path)


def read_model_metadata(folder: str | Path) -> dict[str, Any]:
    """A model folder's metadata (embedder, preset, ...) from its manifest, without reading the arrays:
    what a worker checks at start, before it knows whether it needs the model (0.7 s at 1000 labels).

    Raises
    ------
    ModelError
        As :func:`read_model_folder`, for what the manifest alone shows.
    """
    path = _folder_path(folder)
    return _of_kind(path, FileSnapshotStore(path).load_metadata(""))


def _folder_path(folder: str | Path) -> Path:
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise ModelError(f"{path}: is a file, expected a model folder (written by `redline fit`)")
    return path


def _of_kind(path: Path, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """``metadata`` as a dict, when it describes a redline classifier."""
    kind = metadata.get("kind", MODEL_KIND)  # folders written before `kind` existed hold a classifier too
    if kind != MODEL_KIND:
        raise ModelError(f"{path}: not a redline classifier (kind={kind!r})")
    return dict(metadata)


def _digest(folder: Path) -> str:
    """The arrays' SHA-256 recorded in the manifest (the manifest's own hash for older folders)."""
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))  # read once by load()
    digest = manifest.get("arrays_sha256")
    return str(digest) if digest else hashlib.sha256(json.dumps(manifest).encode()).hexdigest()


def check_embedder(metadata: Mapping[str, Any], embedder: Any, where: object) -> None:
    """Refuse a model fitted on embeddings of another model than ``embedder`` computes.

    Parameters
    ----------
    metadata : mapping
        The model folder's metadata; ``embedder`` names the embedding model it was fitted with.
    embedder : object
        The embedder of this run; its ``model_id`` (when it has one) must match.
    where : object
        Names the model in the error (its folder).

    Raises
    ------
    ModelError
        One line naming both embedding models.
    """
    want = getattr(embedder, "model_id", None)
    fitted = metadata.get("embedder")
    if want is not None and fitted not in (None, want):
        raise ModelError(f"{where}: fitted on embeddings of {fitted}, this run embeds with {want}")
