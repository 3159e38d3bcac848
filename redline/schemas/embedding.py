"""A text's embedding as carried by a judge request: base64 of little-endian float32 values."""

from __future__ import annotations

import base64
import binascii

import numpy as np

from redline.errors import RecordError
from redline.schemas.fields import MAX_EMBEDDING_DIM


def encode_embedding(vector: object) -> str:
    """Base64 of ``vector`` as little-endian float32 (a 1-D, finite, non-empty vector).

    Raises
    ------
    RecordError
        When ``vector`` is not such a vector or has more than ``MAX_EMBEDDING_DIM`` values.
    """
    try:
        with np.errstate(over="ignore"):  # too large for float32 becomes inf, rejected below
            values = np.asarray(vector, dtype="<f4")
    except (TypeError, ValueError) as exc:
        raise RecordError(f"embedding is not a vector of numbers: {exc}") from None
    _check(values)
    return base64.b64encode(values.tobytes()).decode("ascii")


def decode_embedding(value: str) -> np.ndarray:
    """The float32 vector that :func:`encode_embedding` wrote into ``value`` (a new, writable array).

    Raises
    ------
    RecordError
        When ``value`` is empty, not base64, not a whole number of float32 values, or holds NaN/infinity.
    """
    if not isinstance(value, str) or not value:
        raise RecordError("no embedding (an empty string)")
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise RecordError("embedding is not base64") from None
    if len(raw) % 4:
        raise RecordError(f"embedding of {len(raw)} bytes is not a whole number of float32 values")
    values = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    _check(values)
    return values


def _check(values: np.ndarray) -> None:
    if values.ndim != 1 or values.size == 0:
        raise RecordError(f"embedding must be a non-empty 1-D vector, got shape {values.shape}")
    if values.size > MAX_EMBEDDING_DIM:
        raise RecordError(f"embedding has {values.size} values, more than {MAX_EMBEDDING_DIM}")
    if not np.isfinite(values).all():
        raise RecordError("embedding holds NaN or infinity")
