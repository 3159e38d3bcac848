"""Model snapshots on ``redline.models``: the fitted parameters of the deployment's model, versioned.

A snapshot is the model's parameters (no training texts: those are on ``redline.examples``), compressed,
plus a header saying what it includes: the examples offset (every example below it was learned), the
control offset (every command below it was applied, with the recent command ids), the judge policy, the
label count and where it came from. It is one record under the key ``current`` when it fits in
:data:`INLINE_MAX_BYTES`; otherwise its chunks go first (keys ``<snapshot id>/<i>``) and the ``current``
record lists their offsets. The version of a snapshot is ``v<offset of its current record>``: unique
and ordered across the deployment whoever published it, and known to every reader.

Every header carries the sha256 ``digest`` of the parameters it goes with, and with a shared secret
(``REDLINE_MODEL_SECRET``) an HMAC-SHA256 ``signature`` of the whole header (digest, lineage, offsets
and policy included): a reader refuses a snapshot whose parameters do not match its digest, and, when
it holds the secret, one that is unsigned or signed with another key. The digest alone catches
corruption; only the signature stops someone who can write the topic from replacing the model.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import struct
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from redline.adapters.model_codec import (
    Pause,
    encode_for_publishing,
    join_chunks,
    params_from_bytes,
    split_chunks,
)
from redline.errors import ModelError
from redline.streams.kafka_io import PartitionReader

#: the key of the newest snapshot's head record
HEAD_KEY = b"current"
#: a snapshot up to this size travels inline in its head record (Kafka's default limit is 1 MiB)
INLINE_MAX_BYTES = 900_000
_MAGIC = b"RLSNAP\x01"
#: command ids a snapshot remembers (a command replayed after a crash is recognised by its id)
REMEMBERED_COMMANDS = 1000


@dataclass(frozen=True)
class SnapshotInfo:
    """What a snapshot includes and where it came from (the head record's header)."""

    snapshot_id: str
    examples_offset: int
    control_offset: int
    policy: Mapping[str, Any]
    group: str = ""
    embedder: str | None = None
    base_version: str | None = None
    applied_commands: tuple[str, ...] = ()
    uncertainty_quantiles: tuple[float, ...] | None = None
    labels: int = 0
    examples: int = 0
    learned: int = 0
    reason: str = ""
    published_by: str = ""
    created_at: float = 0.0
    chunk_offsets: tuple[int, ...] = ()
    payload_bytes: int = 0
    digest: str = ""
    signature: str = ""

    @classmethod
    def new(cls, **values: Any) -> SnapshotInfo:
        """A header for a snapshot about to be published (fresh id, now)."""
        return cls(snapshot_id=uuid.uuid4().hex, created_at=time.time(), **values)

    def remembering(self, command_id: str) -> tuple[str, ...]:
        """The applied command ids with ``command_id`` added (bounded)."""
        return (*self.applied_commands, command_id)[-REMEMBERED_COMMANDS:]

    def to_json(self) -> bytes:
        """The header as JSON bytes."""
        data = asdict(self)
        data["policy"] = dict(self.policy)
        return json.dumps(data, separators=(",", ":"), sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> SnapshotInfo:
        """Read a header; ModelError when it is not one."""
        try:
            data = json.loads(raw)
            data["applied_commands"] = tuple(data.get("applied_commands", ()))
            data["chunk_offsets"] = tuple(data.get("chunk_offsets", ()))
            q = data.get("uncertainty_quantiles")
            data["uncertainty_quantiles"] = tuple(q) if q is not None else None
            known = {f for f in cls.__dataclass_fields__}
            return cls(**{k: v for k, v in data.items() if k in known})
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            raise ModelError(f"not a snapshot header: {exc}") from None


@dataclass(frozen=True)
class PublishedModel:
    """A snapshot as read from the topic: its version, header and parameters."""

    version: str
    offset: int
    info: SnapshotInfo
    params: Mapping[str, Any] = field(repr=False)


def version_of(offset: int) -> str:
    """The version of the snapshot whose head record sits at ``offset``."""
    return f"v{offset}"


def encode_head(info: SnapshotInfo, payload: bytes) -> bytes:
    """A head record: magic, header length, header JSON, then the payload (empty when chunked)."""
    header = info.to_json()
    return _MAGIC + struct.pack(">I", len(header)) + header + payload


def decode_head(value: bytes) -> tuple[SnapshotInfo, bytes]:
    """The header and inline payload of a head record (ModelError when it is not one)."""
    if not value or not value.startswith(_MAGIC) or len(value) < len(_MAGIC) + 4:
        raise ModelError("not a redline snapshot record")
    (length,) = struct.unpack(">I", value[len(_MAGIC) : len(_MAGIC) + 4])
    start = len(_MAGIC) + 4
    return SnapshotInfo.from_json(value[start : start + length]), value[start + length :]


def sign(info: SnapshotInfo, secret: bytes) -> str:
    """The HMAC-SHA256 of ``info``'s header (its signature field left empty), hex."""
    return hmac.new(secret, replace(info, signature="").to_json(), hashlib.sha256).hexdigest()


def verify(info: SnapshotInfo, payload: bytes, secret: bytes | None) -> None:
    """ModelError unless ``payload`` matches the header's digest and, with ``secret``, the header is
    signed with it."""
    if not info.digest:
        raise ModelError("the snapshot carries no digest")
    actual = hashlib.sha256(payload).hexdigest()
    if not hmac.compare_digest(actual, info.digest):
        raise ModelError(
            f"the snapshot's parameters do not match its digest (sha256 {actual[:12]}..., the header "
            f"says {info.digest[:12]}...)"
        )
    if secret is None:
        return
    if not info.signature:
        raise ModelError("the snapshot is not signed, and this worker has a model secret")
    if not hmac.compare_digest(sign(info, secret), info.signature):
        raise ModelError("the snapshot's signature does not match this worker's model secret")


#: a snapshot's parameters as bytes, and as its readers decode them
EncodedParams = tuple[bytes, Mapping[str, Any]]


def encode_params(params: Mapping[str, Any], pause: Pause | None = None) -> asyncio.Future[EncodedParams]:
    """The bytes of ``params`` (:func:`~redline.adapters.model_codec.params_to_bytes`) and the parameters
    as read back, computed on a thread (~0.6 s of CPU at 1000 labels: not on the event loop), calling
    ``pause`` between blocks of the work; await it, or hand it to :func:`publish`."""
    return asyncio.ensure_future(asyncio.to_thread(encode_for_publishing, params, pause))


async def publish(
    producer: Any,
    topic: str,
    params: Mapping[str, Any],
    info: SnapshotInfo,
    previous: SnapshotInfo | None = None,
    secret: bytes | None = None,
    encoded: asyncio.Future[EncodedParams] | None = None,
    pause: Pause | None = None,
) -> PublishedModel:
    """Put a snapshot on ``topic``: chunks first when needed, the head last; returns it with its version.

    Every send is awaited (delivered or raised), so a returned version is on the broker. The chunks of
    the ``previous`` snapshot get tombstones afterwards, so compaction can drop them. The header gets
    the parameters' digest and, with ``secret``, its signature. The returned snapshot carries the
    parameters as its readers decode them (:func:`~redline.adapters.model_codec.params_as_read`).
    ``encoded``: :func:`encode_params` of ``params`` started earlier (a caller with other work to do
    meanwhile); else they are encoded here, with ``pause`` between blocks (:func:`encode_params`).
    """
    blob, as_read = await (encoded if encoded is not None else encode_params(params, pause))
    offsets: list[int] = []
    if len(blob) > INLINE_MAX_BYTES:
        for i, chunk in enumerate(split_chunks(blob, max_bytes=INLINE_MAX_BYTES)):
            meta = await producer.send_and_wait(topic, value=chunk, key=f"{info.snapshot_id}/{i}".encode())
            offsets.append(int(meta.offset))
        payload = b""
    else:
        payload = blob
    head = replace(
        info,
        chunk_offsets=tuple(offsets),
        payload_bytes=len(blob),
        digest=hashlib.sha256(blob).hexdigest(),
        signature="",
    )
    if secret is not None:
        head = replace(head, signature=sign(head, secret))
    meta = await producer.send_and_wait(topic, value=encode_head(head, payload), key=HEAD_KEY)
    offset = int(meta.offset)
    for key in tombstones_for(previous) if previous is not None else ():
        await producer.send_and_wait(topic, value=None, key=key)
    return PublishedModel(version_of(offset), offset, head, as_read)


async def load_head(
    reader: PartitionReader, offset: int, value: bytes, secret: bytes | None = None
) -> PublishedModel:
    """The snapshot whose head record (``value`` at ``offset``) was read: chunks fetched, digest and
    signature checked (:func:`verify`), parameters decoded."""
    info, payload = decode_head(value)
    if info.chunk_offsets:
        chunks = []
        for chunk_offset in info.chunk_offsets:
            [record] = await reader.read(chunk_offset, chunk_offset + 1)
            chunks.append(record.value)
        payload = join_chunks(chunks)
    verify(info, payload, secret)
    params = await asyncio.to_thread(params_from_bytes, payload)  # seconds of CPU: not on the event loop
    return PublishedModel(version_of(offset), offset, info, params)


async def newest_head(reader: PartitionReader, window: int = 64) -> Any | None:
    """The newest snapshot's head record on the topic (not decoded), or None when nothing was published."""
    end = await reader.end()
    if end == 0:
        return None
    start = max(await reader.beginning(), end - window)
    for first in (start, await reader.beginning()):
        heads = [r for r in await reader.read(first, end) if r.key == HEAD_KEY and r.value]
        if heads:
            return heads[-1]
        if first == 0:
            break
    return None


async def read_newest(
    reader: PartitionReader, window: int = 64, secret: bytes | None = None
) -> PublishedModel | None:
    """The newest snapshot on the topic, or None when nothing was published (ModelError when it fails
    :func:`verify`)."""
    newest = await newest_head(reader, window)
    return None if newest is None else await load_head(reader, newest.offset, newest.value, secret)


def tombstones_for(info: SnapshotInfo) -> Sequence[bytes]:
    """Keys of a snapshot's chunks (null values under them let compaction remove the chunks)."""
    return [f"{info.snapshot_id}/{i}".encode() for i in range(len(info.chunk_offsets))]
