"""Model snapshots without pickle: a JSON manifest plus numpy arrays.

A snapshot is a nested state (dicts, lists, strings, numbers, booleans, None, numpy arrays and scalars),
as :meth:`RedClassifier.to_state` returns, plus free-form metadata. :func:`encode_state` turns the
state into a JSON tree whose arrays are replaced by references (``{"__ndarray__": "a3"}``) and a
dict of arrays; :func:`decode_state` reverses it. Arrays are stored with ``numpy.savez`` and read with
``allow_pickle=False``: loading a snapshot never runs code.

:class:`FileSnapshotStore` saves and loads snapshots by name, writing ``<root>/<name>/manifest.json``
and ``arrays.npz`` atomically. :func:`snapshot_to_bytes` gives the single-blob form a message-based
store (a Kafka topic) needs.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import io
import json
import math
import os
import shutil
import uuid
import zipfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from redline import __version__
from redline.errors import ModelError

#: the manifest format this module writes and reads
FORMAT = "redline-snapshot"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
ARRAYS_FILE = "arrays.npz"


@dataclass(frozen=True)
class Snapshot:
    """A model state and what is known about it.

    Parameters
    ----------
    state : dict
        The model's state: plain values and numpy arrays.
    metadata : dict
        JSON-able facts about the model (kind, embedder id, training file, counts, ...).
    """

    state: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)


def encode_state(state: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """Split a state into a JSON-able tree and its arrays.

    Raises
    ------
    ModelError
        A value that is neither plain data nor a numpy array (the path to it is named).
    """
    arrays: dict[str, np.ndarray] = {}

    def enc(value: Any, where: str) -> Any:
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int | np.integer) and not isinstance(value, np.bool_):
            return int(value)
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, float | np.floating):
            v = float(value)
            return v if math.isfinite(v) else {"__float__": repr(v)}
        if isinstance(value, np.ndarray):
            arr = value
            tag = {"__ndarray__": f"a{len(arrays)}"}
            if arr.dtype == object:
                if not all(isinstance(x, str) for x in arr.flat):
                    raise ModelError(f"cannot snapshot {where}: an object array of non-strings")
                arr = arr.astype(str)
                tag["object"] = "str"
            arrays[tag["__ndarray__"]] = arr
            return tag
        if isinstance(value, bytes):
            return {"__bytes__": base64.b64encode(value).decode("ascii")}
        if isinstance(value, tuple):
            return {"__tuple__": [enc(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [enc(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, Mapping):
            if all(isinstance(k, str) and not k.startswith("__") for k in value):
                return {k: enc(v, f"{where}.{k}") for k, v in value.items()}
            return {"__items__": [[enc(k, where), enc(v, f"{where}[{k!r}]")] for k, v in value.items()]}
        raise ModelError(f"cannot snapshot {where}: unsupported type {type(value).__name__}")

    return enc(state, "state"), arrays


def decode_state(tree: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    """Rebuild a state from :func:`encode_state` output."""

    def dec(value: Any) -> Any:
        if isinstance(value, list):
            return [dec(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "__ndarray__" in value:
            try:
                arr = np.asarray(arrays[value["__ndarray__"]])
            except KeyError:
                raise ModelError(f"snapshot is missing array {value['__ndarray__']}") from None
            return arr.astype(object) if value.get("object") == "str" else arr
        if "__float__" in value:
            return float(value["__float__"])
        if "__bytes__" in value:
            return base64.b64decode(value["__bytes__"])
        if "__tuple__" in value:
            return tuple(dec(v) for v in value["__tuple__"])
        if "__items__" in value:
            return {_hashable(dec(k)): dec(v) for k, v in value["__items__"]}
        return {k: dec(v) for k, v in value.items()}

    return dec(tree)


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def _manifest(snapshot: Snapshot) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    tree, arrays = encode_state(snapshot.state)
    meta_tree, meta_arrays = encode_state(snapshot.metadata)
    if meta_arrays:
        raise ModelError("snapshot metadata must be plain JSON data, not arrays")
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "redline_version": __version__,
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "metadata": meta_tree,
        "arrays": {k: {"dtype": str(a.dtype), "shape": list(a.shape)} for k, a in arrays.items()},
        "state": tree,
    }
    return manifest, arrays


def _from_manifest(manifest: Any, arrays: Mapping[str, np.ndarray], where: str) -> Snapshot:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelError(f"{where}: not a redline snapshot")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelError(
            f"{where}: unsupported snapshot format version {version!r} (this redline reads {FORMAT_VERSION})"
        )
    missing = set(manifest.get("arrays", {})) - set(arrays)
    if missing:
        raise ModelError(f"{where}: arrays missing from the snapshot: {', '.join(sorted(missing))}")
    return Snapshot(decode_state(manifest["state"], arrays), decode_state(manifest.get("metadata", {}), {}))


def _read_manifest(folder: Path) -> Any:
    """The parsed ``manifest.json`` of ``folder`` (one-line ModelError when missing or not JSON)."""
    manifest_path = folder / MANIFEST_FILE
    try:
        return json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{folder}: no model here (missing {MANIFEST_FILE})") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"{manifest_path}: broken manifest: {exc}") from None


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def _read_npz(data: bytes | Path, where: str) -> dict[str, np.ndarray]:
    try:
        source: Any = io.BytesIO(data) if isinstance(data, bytes) else data
        with np.load(source, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{where}: cannot read the snapshot's arrays: {exc}") from exc


def snapshot_to_bytes(snapshot: Snapshot) -> bytes:
    """One blob (an npz archive with the manifest inside) for stores that keep messages."""
    manifest, arrays = _manifest(snapshot)
    blob = json.dumps(manifest, ensure_ascii=False).encode("utf-8")
    return _npz_bytes({**arrays, "__manifest__": np.frombuffer(blob, dtype=np.uint8)})


def snapshot_from_bytes(data: bytes) -> Snapshot:
    """Inverse of :func:`snapshot_to_bytes`."""
    arrays = _read_npz(data, "snapshot blob")
    raw = arrays.pop("__manifest__", None)
    if raw is None:
        raise ModelError("snapshot blob has no manifest")
    try:
        manifest = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"snapshot blob has a broken manifest: {exc}") from exc
    return _from_manifest(manifest, arrays, "snapshot blob")


class FileSnapshotStore:
    """Snapshots as folders: ``<root>/<name>/manifest.json`` and ``<root>/<name>/arrays.npz``.

    Parameters
    ----------
    root : path-like
        The folder holding snapshots. ``name=""`` means ``root`` itself is the snapshot folder
        (what ``redline fit --out DIR`` writes).

    Notes
    -----
    A save writes a temporary folder next to the target and renames it into place, so a reader sees
    either the old snapshot or the new one. The manifest records the SHA-256 of ``arrays.npz``;
    a load checks it.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _folder(self, name: str) -> Path:
        if name and (os.sep in name or name in (".", "..")):
            raise ModelError(f"invalid snapshot name {name!r}")
        return self.root / name if name else self.root

    def save(self, name: str, snapshot: Snapshot) -> str:
        """Write the snapshot; returns its folder."""
        target = self._folder(name)
        manifest, arrays = _manifest(snapshot)
        npz = _npz_bytes(arrays)
        manifest["arrays_sha256"] = hashlib.sha256(npz).hexdigest()
        if target.exists() and not target.is_dir():
            raise ModelError(f"{target}: is a file, expected a model folder")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelError(f"{target}: cannot create the model folder: {exc.strerror or exc}") from None
        if target.exists() and not (target / MANIFEST_FILE).exists() and any(target.iterdir()):
            raise ModelError(f"{target}: exists and is not a redline model folder; refusing to overwrite")
        tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:12]}")
        tmp.mkdir()  # unlike mkdtemp, honours the umask: the model folder gets ordinary permissions
        try:
            (tmp / ARRAYS_FILE).write_bytes(npz)
            (tmp / MANIFEST_FILE).write_text(
                json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
            )
            old = None
            if target.exists():
                old = target.with_name(f".{target.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                target.rename(old)
            tmp.rename(target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return str(target)

    def load_metadata(self, name: str) -> dict[str, Any]:
        """A snapshot's metadata, from its manifest alone (the arrays are not read)."""
        folder = self._folder(name)
        manifest = _read_manifest(folder)
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ModelError(f"{folder}: not a redline snapshot")
        metadata = decode_state(manifest.get("metadata", {}), {})
        if not isinstance(metadata, dict):
            raise ModelError(f"{folder / MANIFEST_FILE}: broken manifest: its metadata is not a mapping")
        return metadata

    def load(self, name: str) -> Snapshot:
        """Read and check a snapshot."""
        folder = self._folder(name)
        manifest = _read_manifest(folder)
        arrays_path = folder / ARRAYS_FILE
        try:
            npz = arrays_path.read_bytes()
        except FileNotFoundError:
            raise ModelError(f"{folder}: missing {ARRAYS_FILE}") from None
        expected = manifest.get("arrays_sha256") if isinstance(manifest, dict) else None
        if not expected:
            return _from_manifest(manifest, _read_npz(npz, str(arrays_path)), str(folder))
        # the digest on a thread while the arrays are parsed (hashlib lets go of the GIL): a first start
        # at 1000 labels hashed ~100 MB for 0.2 s of its ~5 s before it could read them
        with ThreadPoolExecutor(1, thread_name_prefix="redline-sha256") as pool:
            digest = pool.submit(lambda: hashlib.sha256(npz).hexdigest())
            unreadable: ModelError | None = None
            try:
                arrays = _read_npz(npz, str(arrays_path))
            except ModelError as exc:  # a damaged file says so first; its parse error only if it matches
                unreadable = exc
            if digest.result() != expected:
                raise ModelError(f"{arrays_path}: checksum mismatch, the file is damaged")
        if unreadable is not None:
            raise unreadable
        return _from_manifest(manifest, arrays, str(folder))
