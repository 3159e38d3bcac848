"""A judge request carries the text's embedding as base64 of little-endian float32."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from redline.errors import RecordError
from redline.schemas import (
    MAX_EMBEDDING_DIM,
    decode_embedding,
    decode_embeddings,
    encode_embedding,
    encode_embeddings,
)


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


def _b64(values: object) -> str:
    return base64.b64encode(np.asarray(values, dtype="<f4").tobytes()).decode()


@pytest.mark.parametrize(
    "odd",
    [
        None,  # all well formed: decoded in one go
        _b64([np.nan, 0, 0, 0]),  # same length, not finite: that one fails, the others decode
        "A" * 15 + "!",  # same length, not base64: each is decoded alone
        _b64([1.0, 2.0]),  # another length: each is decoded alone
        _b64([1.0]),  # padded
    ],
)
def test_decode_embeddings_matches_decode_embedding_one_by_one(odd: str | None) -> None:
    rng = np.random.default_rng(0)
    values = [encode_embedding(rng.standard_normal(4).astype(np.float32)) for _ in range(5)]
    if odd is not None:
        values.insert(2, odd)
    got = decode_embeddings(values)
    assert len(got) == len(values)
    for value, x in zip(values, got, strict=True):
        try:
            want = decode_embedding(value)
        except RecordError as exc:
            assert isinstance(x, RecordError) and str(x) == str(exc)
        else:
            assert isinstance(x, np.ndarray) and x.dtype == np.float32 and x.flags.writeable
            np.testing.assert_array_equal(x, want)
    assert decode_embeddings([]) == []


def test_decode_embeddings_refuses_too_long_vectors_of_one_length() -> None:
    values = [_b64(np.zeros(MAX_EMBEDDING_DIM + 2))] * 3  # 4098 floats: whole, unpadded base64
    assert "=" not in values[0]
    got = decode_embeddings(values)
    assert all(isinstance(x, RecordError) and "more than 4096" in str(x) for x in got)


@pytest.mark.parametrize("dim", [384, 5, 1])
def test_a_matrix_encodes_as_each_row_would(dim: int) -> None:
    X = np.random.default_rng(dim).normal(size=(7, dim)).astype(np.float32)
    assert encode_embeddings(X) == [encode_embedding(x) for x in X]
    assert encode_embeddings(np.zeros((0, dim))) == []


@pytest.mark.parametrize(
    ("matrix", "reason"),
    [
        (np.ones(4), "2-D matrix"),
        (np.ones((2, 0)), "non-empty 1-D"),
        (np.ones((2, MAX_EMBEDDING_DIM + 1)), "more than"),
        (np.array([[1.0, 2.0], [np.nan, 0.0]]), "NaN or infinity"),
        (np.array([[1e39, 0.0]]), "NaN or infinity"),
        ([["a", "b"]], "not a matrix of numbers"),
    ],
)
def test_a_bad_matrix_is_refused(matrix: object, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        encode_embeddings(matrix)
