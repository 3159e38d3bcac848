"""Parameter blobs (compact, no pickle) and their chunks: round trips and refusal of damage."""

from __future__ import annotations

import numpy as np
import pytest

from redline.adapters.model_codec import (
    COMPRESSIONS,
    DEFAULT_PRECISION,
    PRECISIONS,
    decode_params_blob,
    encode_for_publishing,
    join_chunks,
    params_as_read,
    params_from_bytes,
    params_to_bytes,
    read_chunk_header,
    split_chunks,
)
from redline.core.classifier import RedClassifier
from redline.core.config import EngineConfig
from redline.core.evaluation import LabelledSet
from redline.errors import ModelError


def _points(per_class: int, seed: int) -> LabelledSet:
    centres = np.random.default_rng(4).normal(size=(10, 16))
    y = np.repeat(np.arange(10), per_class)
    X = centres[y] + 0.8 * np.random.default_rng(seed).normal(size=(y.size, 16))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    texts = tuple(
        f"{['card', 'refund', 'pin', 'transfer', 'top up'][i % 5]} request {i}" for i in range(y.size)
    )
    return LabelledSet(texts, tuple(f"label_{c:03d}" for c in y.tolist()), X.astype(np.float32))


SEED, TEST = _points(15, 0), _points(10, 1)
TEXTS = list(SEED.texts)


@pytest.fixture(scope="module")
def flat() -> RedClassifier:
    cfg = EngineConfig(features="embedding+ngrams", max_iter=100)
    return RedClassifier(cfg).fit(SEED.X, TEXTS[: len(SEED)], SEED.labels, {"label_001": "one"})


@pytest.fixture(scope="module")
def subsets() -> RedClassifier:
    cfg = EngineConfig(scorer="hybrid", reducer="cosine", max_subset_size=3, features="embedding+ngrams")
    return RedClassifier(cfg).fit(SEED.X, TEXTS[: len(SEED)], SEED.labels)


def _proba(model: RedClassifier) -> np.ndarray:
    return model.predict_proba(TEST.X, TEST.texts)


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("precision", ["exact", "float32"])
def test_lossless_precisions_score_bitwise_identically(
    flat: RedClassifier, subsets: RedClassifier, precision: str, compression: str
) -> None:
    for model in (flat, subsets):
        blob = params_to_bytes(model.params_state(), precision=precision, compression=compression)
        again = RedClassifier.from_params(params_from_bytes(blob))
        np.testing.assert_array_equal(_proba(again), _proba(model))
        assert again.descriptions_ == model.descriptions_


def test_publishing_quantises_once_in_paused_blocks_what_its_readers_decode(flat: RedClassifier) -> None:
    # rows and columns enough for several blocks of each step; a zero row keeps the scale 1
    rng = np.random.default_rng(3)
    W = rng.normal(size=(300, 40_000)).astype(np.float32)
    W[7] = 0.0
    params = {"flat": {"coef": W, "intercept": rng.normal(size=300)}}
    pauses: list[int] = []
    blob, as_read = encode_for_publishing(params, pause=lambda: pauses.append(1))
    read, kept = params_from_bytes(blob)["flat"], params_as_read(params)["flat"]
    np.testing.assert_array_equal(as_read["flat"]["coef"], read["coef"])
    np.testing.assert_array_equal(as_read["flat"]["coef"], kept["coef"])
    np.testing.assert_array_equal(as_read["flat"]["intercept"], params["flat"]["intercept"])
    assert as_read["flat"]["coef"].flags["F_CONTIGUOUS"]  # the layout the flat product wants
    assert len(pauses) >= 3 + 2 + 8  # quantised rows, compressed bytes, restored columns
    unpaused, _ = encode_for_publishing(params)
    np.testing.assert_array_equal(params_from_bytes(unpaused)["flat"]["coef"], read["coef"])
    # a real model: the publisher decides as the readers of its blob
    model_params = flat.params_state()
    blob, as_read = encode_for_publishing(model_params, pause=lambda: None)
    read_model = RedClassifier.from_params(params_from_bytes(blob))
    np.testing.assert_array_equal(_proba(RedClassifier.from_params(as_read)), _proba(read_model))


@pytest.mark.parametrize("precision", ["exact", "float16", DEFAULT_PRECISION, "int4"])
def test_the_publisher_scores_like_the_readers_of_its_blob(
    flat: RedClassifier, subsets: RedClassifier, precision: str
) -> None:
    """params_as_read: what a worker that decodes the blob gets, without encoding or decoding it."""
    for model in (flat, subsets):
        params = model.params_state()
        read = RedClassifier.from_params(params_from_bytes(params_to_bytes(params, precision=precision)))
        kept = RedClassifier.from_params(params_as_read(params, precision=precision))
        np.testing.assert_array_equal(_proba(kept), _proba(read))
    with pytest.raises(ModelError, match="unknown precision"):
        params_as_read(flat.params_state(), precision="int3")


def test_smaller_precisions_are_smaller_and_agree(flat: RedClassifier) -> None:
    params = flat.params_state()
    sizes = {p: len(params_to_bytes(params, precision=p)) for p in PRECISIONS}
    assert sizes["float16"] < sizes["float32"] and sizes["int8"] < sizes["float16"]
    assert sizes["int4"] < sizes["int8"]
    for precision in ("float16", "int8", "int6"):
        again = RedClassifier.from_params(params_from_bytes(params_to_bytes(params, precision=precision)))
        assert again.flat_coef_.dtype == np.float32
        assert np.mean(_proba(again).argmax(1) == _proba(flat).argmax(1)) >= 0.95
        np.testing.assert_allclose(_proba(again), _proba(flat), atol=0.1)


def test_blob_carries_no_training_texts(flat: RedClassifier) -> None:
    import bz2

    raw = bz2.decompress(params_to_bytes(flat.params_state(), compression="bz2")[5:])
    assert b"card request 10" in TEXTS[10].encode()
    assert TEXTS[10].encode() not in raw  # a training text: its 1-2-grams are in the vocabulary, not it


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:-20],
        lambda b: b[:5] + bytes(x ^ 0x5A for x in b[5:40]) + b[40:],
        lambda b: b"XXXX" + b[4:],
        lambda b: b[:4] + b"\x09" + b[5:],
        lambda b: b"",
        lambda b: b[:4],
    ],
)
@pytest.mark.parametrize("compression", ["zlib", "bz2", "lzma"])
def test_corrupt_blobs_are_refused_in_one_line(flat: RedClassifier, damage: object, compression: str) -> None:
    blob = params_to_bytes(flat.params_state(), compression=compression)
    with pytest.raises(ModelError) as err:
        params_from_bytes(damage(blob))  # type: ignore[operator]
    assert "\n" not in str(err.value)


def test_unknown_precision_or_compression(flat: RedClassifier) -> None:
    with pytest.raises(ModelError, match="precision"):
        params_to_bytes(flat.params_state(), precision="int3")
    with pytest.raises(ModelError, match="compression"):
        params_to_bytes(flat.params_state(), compression="zip")


def test_chunks_round_trip_in_any_order() -> None:
    blob = np.random.default_rng(0).bytes(10_000)
    chunks = split_chunks(blob, max_bytes=1000, snapshot_id="model-7")
    assert len(chunks) > 10 and all(len(c) <= 1000 for c in chunks)
    header, _ = read_chunk_header(chunks[3])
    assert (header.snapshot_id, header.index, header.count, header.size) == (
        "model-7",
        3,
        len(chunks),
        10_000,
    )
    shuffled = [chunks[i] for i in np.random.default_rng(1).permutation(len(chunks))]
    assert join_chunks(shuffled + chunks[:2]) == blob  # redelivered duplicates are harmless
    assert join_chunks(split_chunks(b"")) == b""
    assert len(split_chunks(blob)) == 1


def test_incomplete_mixed_or_corrupt_chunk_sets_are_refused() -> None:
    rng = np.random.default_rng(0)
    blob, other = rng.bytes(5000), rng.bytes(5000)
    chunks = split_chunks(blob, max_bytes=1000)
    with pytest.raises(ModelError, match="missing"):
        join_chunks(chunks[:2] + chunks[3:])
    with pytest.raises(ModelError, match="different snapshots"):
        join_chunks(chunks[:2] + split_chunks(other, max_bytes=1000)[2:])
    with pytest.raises(ModelError, match="different snapshots"):  # same id, other content
        same_id = read_chunk_header(chunks[0])[0].snapshot_id
        join_chunks(chunks[:2] + split_chunks(other, max_bytes=1000, snapshot_id=same_id)[2:])
    flipped = chunks[1][:-1] + bytes([chunks[1][-1] ^ 1])
    with pytest.raises(ModelError, match="corrupt"):
        join_chunks([chunks[0], flipped, *chunks[2:]])
    with pytest.raises(ModelError, match="two different"):
        join_chunks([*chunks, flipped])
    with pytest.raises(ModelError, match="no snapshot chunks"):
        join_chunks([])
    with pytest.raises(ModelError, match="not a redline"):
        join_chunks([b"hello"])
    with pytest.raises(ModelError, match="no room"):
        split_chunks(blob, max_bytes=40)


def test_a_model_blob_survives_chunking(flat: RedClassifier) -> None:
    blob = params_to_bytes(flat.params_state(), precision="float32")
    again = RedClassifier.from_params(params_from_bytes(join_chunks(split_chunks(blob, max_bytes=4096))))
    np.testing.assert_array_equal(_proba(again), _proba(flat))


def test_metadata_travels_with_the_parameters(flat: RedClassifier) -> None:
    blob = params_to_bytes(flat.params_state(), metadata={"examples_offset": 1234, "version": "m#3"})
    params, meta = decode_params_blob(blob)
    assert meta["examples_offset"] == 1234 and meta["version"] == "m#3"
    assert meta["precision"] == DEFAULT_PRECISION
    assert params["n_train"] == flat.n_train_
