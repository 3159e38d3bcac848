"""A judge request carries the text's embedding as base64 of little-endian float32."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from redline.errors import RecordError
from redline.schemas import MAX_EMBEDDING_DIM, decode_embedding, encode_embedding


def test_round_trip_is_exact_float32() -> None:
    vec = np.random.default_rng(0).normal(size=384).astype(np.float32)
    text = encode_embedding(vec)
    assert len(text) == 4 * -(-384 * 4 // 3)
    back = decode_embedding(text)
    assert back.dtype == np.float32 and back.flags.writeable and np.array_equal(back, vec)


def test_layout_is_little_endian_float32() -> None:
    assert base64.b64decode(encode_embedding([1.0, -2.0])) == np.array([1.0, -2.0], dtype="<f4").tobytes()
    assert encode_embedding(np.array([1.0], dtype=">f8")) == encode_embedding([1.0])


@pytest.mark.parametrize(
    ("vector", "reason"),
    [
        ([], "non-empty 1-D"),
        ([[1.0, 2.0]], "non-empty 1-D"),
        ([1.0, float("nan")], "NaN or infinity"),
        ([1e39], "NaN or infinity"),
        (["a"], "not a vector of numbers"),
        (np.zeros(MAX_EMBEDDING_DIM + 1), "more than 4096"),
    ],
)
def test_encode_refuses_what_is_not_an_embedding(vector: object, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        encode_embedding(vector)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no embedding"),
        ("not base64!", "not base64"),
        ("AAAA", "not a whole number of float32"),
        ("ü", "not base64"),
        (base64.b64encode(np.array([np.inf], dtype="<f4").tobytes()).decode(), "NaN or infinity"),
    ],
)
def test_decode_refuses_what_is_not_an_embedding(text: str, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        decode_embedding(text)
