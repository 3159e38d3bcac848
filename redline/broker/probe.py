"""The readiness check: a raw Kafka Metadata request over a plain socket.

A KRaft broker accepts client connections only once it has caught up with the metadata log,
and lists itself in Metadata responses only once it is unfenced, i.e. ready to lead partitions.
So "a Metadata response naming at least one broker" is exactly "clients can use it now".
Metadata v4 is used: every broker from Kafka 1.0 to 4.x accepts it.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

METADATA_API_KEY = 3
METADATA_VERSION = 4
CLIENT_ID = b"redline-probe"


class ProtocolError(Exception):
    """The peer answered something that is not a Kafka Metadata v4 response."""


@dataclass(frozen=True)
class BrokerNode:
    """One broker listed in a Metadata response."""

    node_id: int
    host: str
    port: int


@dataclass(frozen=True)
class ClusterMetadata:
    """The part of a Metadata response the readiness check needs."""

    brokers: tuple[BrokerNode, ...]
    cluster_id: str | None
    controller_id: int


def encode_metadata_request(correlation_id: int) -> bytes:
    """A size-prefixed Metadata v4 request asking for no topics and creating none."""
    header = struct.pack(">hhih", METADATA_API_KEY, METADATA_VERSION, correlation_id, len(CLIENT_ID))
    body = struct.pack(">ib", 0, 0)  # topics: empty array; allow_auto_topic_creation: false
    payload = header + CLIENT_ID + body
    return struct.pack(">i", len(payload)) + payload


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ProtocolError("Metadata response is truncated")
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return int(value)

    def string(self) -> str | None:
        length = self.take(">h")
        if length < 0:
            return None
        if self.pos + length > len(self.data):
            raise ProtocolError("Metadata response is truncated")
        raw = self.data[self.pos : self.pos + length]
        self.pos += length
        return raw.decode("utf-8", errors="replace")


def decode_metadata_response(payload: bytes, correlation_id: int) -> ClusterMetadata:
    """Parse a Metadata v4 response (without its size prefix).

    Raises
    ------
    ProtocolError
        Wrong correlation id or a malformed body.
    """
    reader = _Reader(payload)
    got = reader.take(">i")
    if got != correlation_id:
        raise ProtocolError(f"correlation id {got} does not match request {correlation_id}")
    reader.take(">i")  # throttle_time_ms
    count = reader.take(">i")
    if not 0 <= count <= 10_000:
        raise ProtocolError(f"implausible broker count {count}")
    brokers = []
    for _ in range(count):
        node_id = reader.take(">i")
        host = reader.string() or ""
        port = reader.take(">i")
        reader.string()  # rack
        brokers.append(BrokerNode(node_id=node_id, host=host, port=port))
    cluster_id = reader.string()
    controller_id = reader.take(">i")
    return ClusterMetadata(brokers=tuple(brokers), cluster_id=cluster_id, controller_id=controller_id)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ProtocolError("connection closed before the Metadata response was complete")
        chunks.extend(chunk)
    return bytes(chunks)


def fetch_metadata(host: str, port: int, *, timeout_s: float = 5.0) -> ClusterMetadata:
    """Send one Metadata request to ``host:port`` and return the parsed answer.

    Raises
    ------
    OSError
        Nothing listens there, or it did not answer within ``timeout_s``.
    ProtocolError
        Something listens but does not speak the Kafka protocol.
    """
    correlation_id = 0x5EED
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.settimeout(timeout_s)
        sock.sendall(encode_metadata_request(correlation_id))
        (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
        if not 8 <= size <= 16 * 1024 * 1024:
            raise ProtocolError(f"implausible response size {size}")
        return decode_metadata_response(_recv_exactly(sock, size), correlation_id)


def broker_answers(host: str, port: int, *, timeout_s: float = 5.0) -> bool:
    """True iff a Kafka broker at ``host:port`` answers Metadata and lists at least one broker."""
    try:
        return bool(fetch_metadata(host, port, timeout_s=timeout_s).brokers)
    except (OSError, ProtocolError):
        return False
