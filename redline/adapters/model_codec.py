"""Classifier parameters as one compact blob, and blobs as chunks that fit a message.

:func:`params_to_bytes` encodes :meth:`RedClassifier.params_state` (no training texts) with the
manifest + arrays encoding of :mod:`redline.adapters.snapshot_store` (no pickle), after storing every
weight matrix (an array under a ``coef`` key) at the chosen ``precision``, then compresses the whole.
Quantised precisions (``int8`` ... ``int4``) keep one float32 scale per class row and the integers
in feature-major order, where runs of zeros compress best; ``benchmarks/bench_model_codec.py``
measures their size, accuracy and agreement with the float32 model.

:func:`split_chunks` and :func:`join_chunks` cut a blob into chunks of at most ``max_bytes``
(Kafka's default message limit is 1 MB) that each carry the snapshot id, their index, the count and
the SHA-256 of the whole blob, and put them back together, refusing incomplete, mixed or corrupt sets.
"""

from __future__ import annotations

import bz2
import hashlib
import lzma
import struct
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from redline.adapters.snapshot_store import Snapshot, snapshot_from_bytes, snapshot_to_bytes
from redline.errors import ModelError

#: precisions of the weight matrices, most exact first; ``exact`` keeps every array as it is
PRECISIONS = ("exact", "float32", "float16", "int8", "int6", "int5", "int4")
#: benchmarks/results/model_codec.json: on CLINC150 and BANKING77, int6 loses at most 0.07 accuracy
#: point against float32 with >= 99.8 % identical predictions (323 KB in bz2 at 150 classes); int5, smaller
#: still, meets the bounds (0.1 point, 99.5 %) with a margin of one test text, so it is not the default
DEFAULT_PRECISION = "int6"
COMPRESSIONS = ("zlib", "bz2", "lzma")
#: zlib: every worker inflates every snapshot (a start, a reload after each learning step); int6 weights
#: at 1000 labels: zlib 1.45 MB inflated in 0.16 s, bz2 1.15 MB in 0.65 s, lzma 1.13 MB in 0.24 s but
#: 8.7 s to write (150 labels: 345 / 292 / 248 KB; 0.04 / 0.11 / 0.05 s); the size costs nothing here
#: (both split into two 900 KB chunks at 1000 labels, one message at 150)
DEFAULT_COMPRESSION = "zlib"
#: the metadata ``kind`` of a parameter blob
PARAMS_KIND = "redline.RedClassifier.params"
#: refuse to inflate a blob beyond this many bytes (a damaged or hostile blob)
MAX_INFLATED = 1 << 31

_MAGIC = b"RLP1"
_CHUNK_MAGIC = b"RLC1"
_WEIGHT_KEY = "coef"
_QUANT = "quantised"
#: called between blocks of an encoding (see :func:`encode_for_publishing`)
Pause = Callable[[], None]


#: class rows quantised between two calls of a publisher's ``pause`` (1000 labels' 20,384-column int6
#: weights: ~0.25 s of CPU in all, ~30 ms a block)
_BLOCK_ROWS = 128
#: bytes compressed between two calls of ``pause``
_BLOCK_BYTES = 1 << 21


def _quantise(W: np.ndarray, precision: str, pause: Pause | None = None) -> Any:
    if precision == "exact" or W.ndim != 2 or W.dtype.kind != "f":
        return W
    if precision in ("float32", "float16"):
        return {
            _QUANT: precision,
            "dtype": str(W.dtype),
            "values_t": np.ascontiguousarray(W.T, dtype=precision),
        }
    top = 2 ** (int(precision[3:]) - 1) - 1
    scale = np.empty(W.shape[0], dtype=np.float32)
    values_t = np.empty(W.shape[::-1], dtype=np.int8)  # feature-major, as stored
    for start in range(0, W.shape[0], _BLOCK_ROWS):
        rows = slice(start, start + _BLOCK_ROWS)
        peak = np.abs(W[rows]).max(axis=1).astype(np.float32)
        scale[rows] = np.where(peak > 0, peak / top, 1.0)
        values_t[:, rows] = np.rint(W[rows] / scale[rows, None]).astype(np.int8).T
        if pause is not None:
            pause()
    return {_QUANT: precision, "dtype": str(W.dtype), "scale": scale, "values_t": values_t}


def _dequantise(value: Mapping[str, Any], pause: Pause | None = None) -> np.ndarray:
    kind, dtype = str(value[_QUANT]), np.dtype(str(value["dtype"]))
    # column-major, as stored: no copy, and the layout RedClassifier's flat product wants (its _flat_weights)
    values = np.asarray(value["values_t"]).T
    if kind in ("float32", "float16"):
        return np.asfortranarray(values, dtype=dtype)
    scale = np.asarray(value["scale"], dtype=np.float32)
    if kind not in PRECISIONS or values.dtype != np.int8 or scale.shape != (values.shape[0],):
        raise ModelError(f"parameter blob has a damaged {kind!r} weight matrix")
    # in blocks of columns: writing a new 80 MB matrix (1000 labels) faults in its pages, ~0.3 s at once
    out = np.empty(values.shape, dtype=dtype, order="F")
    step = max(1, -(-values.shape[1] // 8))
    for start in range(0, values.shape[1], step):
        cols = slice(start, start + step)
        out[:, cols] = values[:, cols].astype(np.float32) * scale[:, None]
        if pause is not None:
            pause()
    return out


def _quantised(params: Mapping[str, Any], precision: str, pause: Pause | None = None) -> Any:
    """``params`` with every weight matrix stored at ``precision`` (:func:`_quantise`)."""
    return _map_weights(params, lambda w: _quantise(w, precision, pause) if isinstance(w, np.ndarray) else w)


def _restored(stored: Any, pause: Pause | None = None) -> dict[str, Any]:
    """The parameters a reader gets from ``stored`` (:func:`_quantised`): every stored matrix restored."""
    restored: dict[str, Any] = _map_weights(
        stored, lambda w: _dequantise(w, pause) if isinstance(w, Mapping) else w
    )
    return restored


def _map_weights(tree: Any, fn: Any) -> Any:
    """``tree`` with ``fn`` applied to every value under a ``coef`` key."""
    if isinstance(tree, Mapping):
        return {k: fn(v) if k == _WEIGHT_KEY else _map_weights(v, fn) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return [_map_weights(v, fn) for v in tree]
    return tree


def _compress(raw: bytes, compression: str, pause: Pause | None = None) -> bytes:
    if compression == "zlib":  # in blocks: the same bytes as zlib.compress(raw, 6)
        deflate, parts = zlib.compressobj(6), []
        for start in range(0, len(raw), _BLOCK_BYTES):
            parts.append(deflate.compress(raw[start : start + _BLOCK_BYTES]))
            if pause is not None:
                pause()
        return b"".join([*parts, deflate.flush()])
    if compression == "bz2":
        return bz2.compress(raw, 9)
    return lzma.compress(raw, preset=6)


def _inflate(data: bytes, compression: int) -> bytes:
    decompressor: Any
    if compression == 0:
        decompressor = zlib.decompressobj()
    elif compression == 1:
        decompressor = bz2.BZ2Decompressor()
    elif compression == 2:
        decompressor = lzma.LZMADecompressor()
    else:
        raise ModelError(f"parameter blob: unknown compression {compression}")
    try:
        raw: bytes = decompressor.decompress(data, MAX_INFLATED)
    except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError) as exc:
        raise ModelError(f"parameter blob is corrupt: {exc}") from None
    if len(raw) >= MAX_INFLATED:
        raise ModelError("parameter blob inflates beyond 2 GiB; refusing it")
    if not decompressor.eof:  # zlib hands out what a cut stream holds without complaint
        raise ModelError("parameter blob is truncated (its compressed stream does not end)")
    return raw


def params_to_bytes(
    params: Mapping[str, Any],
    *,
    precision: str = DEFAULT_PRECISION,
    compression: str = DEFAULT_COMPRESSION,
    metadata: Mapping[str, Any] | None = None,
) -> bytes:
    """Encode classifier parameters as one compressed blob (no pickle).

    Parameters
    ----------
    params : mapping
        What :meth:`RedClassifier.params_state` returned.
    precision : str
        How weight matrices are stored (see :data:`PRECISIONS`); the rest is exact.
    compression : {"zlib", "bz2", "lzma"}
        Compressor of the whole blob.
    metadata : mapping, optional
        Plain JSON facts carried beside the parameters (e.g. the examples offset they include, a
        version); :func:`decode_params_blob` returns them.

    Raises
    ------
    ModelError
        Unknown precision or compression, or a value that cannot be encoded.
    """
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if compression not in COMPRESSIONS:
        raise ModelError(f"unknown compression {compression!r}: expected one of {', '.join(COMPRESSIONS)}")
    return _blob(_quantised(params, precision), precision, compression, metadata)


def _blob(
    stored: Any,
    precision: str,
    compression: str,
    metadata: Mapping[str, Any] | None,
    pause: Pause | None = None,
) -> bytes:
    meta = {**(metadata or {}), "kind": PARAMS_KIND, "precision": precision}
    raw = snapshot_to_bytes(Snapshot(stored, meta))
    return _MAGIC + bytes([COMPRESSIONS.index(compression)]) + _compress(raw, compression, pause)


def encode_for_publishing(
    params: Mapping[str, Any], pause: Pause | None = None
) -> tuple[bytes, dict[str, Any]]:
    """:func:`params_to_bytes` and :func:`params_as_read` of ``params`` at the default precision and
    compression, every weight matrix quantised once for both (twice cost 0.24 s more of the ~0.8 s at
    1000 labels). ``pause`` is called between blocks of the work (a publisher that shares its cores with
    classification sleeps there, as a learning step does)."""
    stored = _quantised(params, DEFAULT_PRECISION, pause)
    return _blob(stored, DEFAULT_PRECISION, DEFAULT_COMPRESSION, None, pause), _restored(stored, pause)


def params_as_read(params: Mapping[str, Any], *, precision: str = DEFAULT_PRECISION) -> dict[str, Any]:
    """The parameters as a reader of their :func:`params_to_bytes` blob gets them: every weight matrix
    stored at ``precision`` and restored, in memory (no encoding, no compression). The publisher of a
    snapshot decides with these, as every other worker does, without decoding what it just encoded."""
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    return _restored(_quantised(params, precision))


def params_from_bytes(data: bytes) -> dict[str, Any]:
    """Decode :func:`params_to_bytes` output (weights come back as float arrays of their dtype).

    Raises
    ------
    ModelError
        One line: not a parameter blob, corrupt, or truncated.
    """
    return decode_params_blob(data)[0]


def decode_params_blob(data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parameters and the metadata of a :func:`params_to_bytes` blob.

    Raises
    ------
    ModelError
        One line: not a parameter blob, corrupt, or truncated.
    """
    if not isinstance(data, bytes | bytearray | memoryview) or bytes(data[:4]) != _MAGIC or len(data) < 5:
        raise ModelError("not a redline parameter blob")
    snapshot = snapshot_from_bytes(_inflate(bytes(data[5:]), data[4]))
    if snapshot.metadata.get("kind") != PARAMS_KIND:
        raise ModelError(f"not a redline parameter blob (kind={snapshot.metadata.get('kind')!r})")

    def restore(value: Any) -> Any:
        return _dequantise(value) if isinstance(value, Mapping) and _QUANT in value else value

    try:
        params: dict[str, Any] = _map_weights(snapshot.state, restore)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"parameter blob is damaged ({exc!r})") from None
    return params, dict(snapshot.metadata)


# -- chunks ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChunkHeader:
    """What every chunk says about the blob it belongs to.

    Attributes
    ----------
    snapshot_id : str
        Names the blob (its chunks share it).
    index, count : int
        This chunk's position and the number of chunks.
    size : int
        Bytes of the whole blob.
    sha256 : str
        Hex SHA-256 of the whole blob.
    """

    snapshot_id: str
    index: int
    count: int
    size: int
    sha256: str


_FIXED = struct.Struct(">4sB")  # magic, id length
_TAIL = struct.Struct(">IIQ32s")  # index, count, size, sha256


def _header_bytes(h: ChunkHeader) -> bytes:
    ident = h.snapshot_id.encode("utf-8")
    return (
        _FIXED.pack(_CHUNK_MAGIC, len(ident))
        + ident
        + _TAIL.pack(h.index, h.count, h.size, bytes.fromhex(h.sha256))
    )


def read_chunk_header(chunk: bytes) -> tuple[ChunkHeader, bytes]:
    """The header and payload of one chunk.

    Raises
    ------
    ModelError
        Not a chunk, or a truncated one.
    """
    if len(chunk) < _FIXED.size or bytes(chunk[:4]) != _CHUNK_MAGIC:
        raise ModelError("not a redline snapshot chunk")
    _, id_len = _FIXED.unpack_from(chunk)
    start = _FIXED.size + id_len
    if len(chunk) < start + _TAIL.size:
        raise ModelError("truncated snapshot chunk header")
    try:
        ident = bytes(chunk[_FIXED.size : start]).decode("utf-8")
    except UnicodeDecodeError:
        raise ModelError("snapshot chunk with a damaged id") from None
    index, count, size, digest = _TAIL.unpack_from(chunk, start)
    if count < 1 or index >= count:
        raise ModelError(f"snapshot chunk {index} of {count}: impossible position")
    return ChunkHeader(ident, index, count, size, digest.hex()), bytes(chunk[start + _TAIL.size :])


def split_chunks(blob: bytes, max_bytes: int = 900_000, snapshot_id: str | None = None) -> list[bytes]:
    """Cut ``blob`` into chunks of at most ``max_bytes`` bytes each, header included.

    Parameters
    ----------
    blob : bytes
        What to cut (e.g. :func:`params_to_bytes` output).
    max_bytes : int
        Upper bound of one chunk (keep it under the broker's message limit, 1 MB by default in Kafka).
    snapshot_id : str, optional
        Names the blob in every chunk (at most 255 UTF-8 bytes); the first 16 hex digits of its
        SHA-256 by default.

    Raises
    ------
    ModelError
        ``max_bytes`` leaves no room for data, or the id is too long.
    """
    digest = hashlib.sha256(blob).hexdigest()
    ident = snapshot_id if snapshot_id is not None else digest[:16]
    if len(ident.encode("utf-8")) > 255:
        raise ModelError("snapshot id longer than 255 bytes")
    room = max_bytes - len(_header_bytes(ChunkHeader(ident, 0, 1, len(blob), digest)))
    if room < 1:
        raise ModelError(f"max_bytes={max_bytes} leaves no room for data after the chunk header")
    count = max(1, -(-len(blob) // room))
    return [
        _header_bytes(ChunkHeader(ident, i, count, len(blob), digest)) + blob[i * room : (i + 1) * room]
        for i in range(count)
    ]


def join_chunks(chunks: Iterable[bytes]) -> bytes:
    """Reassemble a blob from its chunks (any order; identical duplicates are tolerated).

    Raises
    ------
    ModelError
        One line: no chunks, chunks of different blobs, a missing or conflicting chunk, or a blob
        whose size or SHA-256 does not match its headers.
    """
    parts: dict[int, bytes] = {}
    first: ChunkHeader | None = None
    for chunk in chunks:
        header, payload = read_chunk_header(chunk)
        if first is None:
            first = header
        elif (header.snapshot_id, header.count, header.size, header.sha256) != (
            first.snapshot_id,
            first.count,
            first.size,
            first.sha256,
        ):
            raise ModelError(
                f"chunks of different snapshots ({first.snapshot_id!r} and {header.snapshot_id!r})"
            )
        if parts.setdefault(header.index, payload) != payload:
            raise ModelError(f"two different chunks {header.index} of snapshot {header.snapshot_id!r}")
    if first is None:
        raise ModelError("no snapshot chunks")
    missing = sorted(set(range(first.count)) - set(parts))
    if missing:
        shown = ", ".join(str(i) for i in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ModelError(
            f"snapshot {first.snapshot_id!r} is incomplete: chunks {shown} of {first.count} missing"
        )
    blob = b"".join(parts[i] for i in range(first.count))
    if len(blob) != first.size or hashlib.sha256(blob).hexdigest() != first.sha256:
        raise ModelError(f"snapshot {first.snapshot_id!r} is corrupt: its SHA-256 does not match")
    return blob
