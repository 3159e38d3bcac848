"""Snapshots on the models topic: header framing, inline and chunked publication, versions."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from redline.errors import ModelError
from redline.streams.model_topic import (
    HEAD_KEY,
    INLINE_MAX_BYTES,
    SnapshotInfo,
    decode_head,
    encode_head,
    encode_params,
    load_head,
    publish,
    sign,
)


class FakeLog:
    """A one-partition topic: the producer appends, the reader reads by offset."""

    def __init__(self) -> None:
        self.records: list[SimpleNamespace] = []

    async def send_and_wait(self, topic, value=None, key=None):
        self.records.append(SimpleNamespace(offset=len(self.records), key=key, value=value))
        return SimpleNamespace(offset=len(self.records) - 1)

    async def read(self, start, end=None):
        return self.records[start:end]


def _info(**kw) -> SnapshotInfo:
    return SnapshotInfo.new(examples_offset=12, control_offset=3, policy={"judge_share": 0.2}, **kw)


def test_a_header_round_trips_and_garbage_is_refused() -> None:
    info = _info(applied_commands=("c1",), uncertainty_quantiles=(0.1, 0.9), labels=4)
    back, payload = decode_head(encode_head(info, b"xyz"))
    assert back == info and payload == b"xyz"
    for bad in (b"", b"hello", b"RLSNAP\x01\x00\x00\x00\x05{bad}"):
        with pytest.raises(ModelError):
            decode_head(bad)


def test_remembered_commands_are_bounded() -> None:
    info = _info(applied_commands=tuple(str(i) for i in range(1000)))
    assert len(info.remembering("new")) == 1000 and info.remembering("new")[-1] == "new"


async def test_a_small_snapshot_is_one_record_and_its_version_is_its_offset() -> None:
    log = FakeLog()
    log.records.append(SimpleNamespace(offset=0, key=b"other", value=b"x"))
    params = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "classes": ["a", "b"]}
    published = await publish(log, "t", params, _info())
    assert published.version == "v1" and published.offset == 1 and len(log.records) == 2
    assert log.records[1].key == HEAD_KEY and not published.info.chunk_offsets
    loaded = await load_head(log, 1, log.records[1].value)
    assert loaded.version == "v1" and loaded.info.examples_offset == 12
    np.testing.assert_array_equal(loaded.params["w"], params["w"])


async def test_a_large_snapshot_goes_in_chunks_and_the_previous_ones_are_tombstoned() -> None:
    log = FakeLog()
    noise = np.random.default_rng(0).normal(size=(700, 700)).astype(np.float32)  # does not compress
    first = await publish(log, "t", {"w": noise}, _info())
    assert len(first.info.chunk_offsets) >= 2 and first.info.payload_bytes > INLINE_MAX_BYTES
    loaded = await load_head(log, first.offset, log.records[first.offset].value)
    np.testing.assert_array_equal(loaded.params["w"], noise)
    second = await publish(log, "t", {"w": noise[:10]}, _info(), previous=first.info)
    tombstones = [r for r in log.records[second.offset + 1 :] if r.value is None]
    assert len(tombstones) == len(first.info.chunk_offsets)
    assert int(second.version[1:]) > int(first.version[1:])


async def test_parameters_encoded_ahead_publish_the_same_snapshot() -> None:
    """A caller that starts :func:`encode_params` before other work publishes what ``publish`` encodes."""
    params = {"w": np.random.default_rng(1).normal(size=(50, 20)).astype(np.float32), "classes": ["a"]}
    here, ahead = FakeLog(), FakeLog()
    plain = await publish(here, "t", params, _info())
    encoded = encode_params(params)
    early = await publish(ahead, "t", params, _info(), encoded=encoded)
    assert early.info.digest == plain.info.digest and early.info.payload_bytes == plain.info.payload_bytes
    assert decode_head(ahead.records[0].value)[1] == decode_head(here.records[0].value)[1]
    np.testing.assert_array_equal(early.params["w"], plain.params["w"])


async def test_a_snapshot_whose_parameters_do_not_match_its_digest_is_refused() -> None:
    log = FakeLog()
    published = await publish(log, "t", {"w": np.ones(3, dtype=np.float32)}, _info())
    info, payload = decode_head(log.records[published.offset].value)
    assert len(info.digest) == 64 and not info.signature
    forged = encode_head(info, await _payload_of({"w": np.zeros(3, dtype=np.float32)}))
    with pytest.raises(ModelError, match="do not match its digest"):
        await load_head(log, 0, forged)
    with pytest.raises(ModelError, match="no digest"):
        await load_head(log, 0, encode_head(replace(info, digest=""), payload))


async def _payload_of(params) -> bytes:
    log = FakeLog()
    published = await publish(log, "t", params, _info())
    return decode_head(log.records[published.offset].value)[1]


async def test_with_a_secret_only_snapshots_signed_with_it_load() -> None:
    key, other_key = b"shared secret", b"someone else"
    log = FakeLog()
    signed = await publish(log, "t", {"w": np.ones(3, dtype=np.float32)}, _info(), secret=key)
    value = log.records[signed.offset].value
    loaded = await load_head(log, signed.offset, value, key)
    assert loaded.info.signature == sign(loaded.info, key)
    with pytest.raises(ModelError, match="signature does not match"):
        await load_head(log, signed.offset, value, other_key)
    unsigned = await publish(log, "t", {"w": np.ones(3, dtype=np.float32)}, _info())
    with pytest.raises(ModelError, match="not signed"):
        await load_head(log, unsigned.offset, log.records[unsigned.offset].value, key)
    # the lineage is signed too: a header whose examples offset was changed no longer verifies
    info, payload = decode_head(value)
    tampered = encode_head(replace(info, examples_offset=info.examples_offset + 1), payload)
    with pytest.raises(ModelError, match="signature does not match"):
        await load_head(log, signed.offset, tampered, key)
    # without the secret a signed snapshot still loads (its digest checked)
    assert (await load_head(log, signed.offset, value)).version == signed.version
