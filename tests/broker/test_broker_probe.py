from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from redline.broker.probe import (
    ProtocolError,
    broker_answers,
    decode_metadata_response,
    encode_metadata_request,
    fetch_metadata,
)
from redline.broker.storage import is_cluster_id


def _string(text: str | None) -> bytes:
    if text is None:
        return struct.pack(">h", -1)
    raw = text.encode()
    return struct.pack(">h", len(raw)) + raw


def _response(correlation_id: int, brokers: list[tuple[int, str, int]], cluster_id: str | None) -> bytes:
    body = struct.pack(">ii", correlation_id, 0) + struct.pack(">i", len(brokers))
    for node_id, host, port in brokers:
        body += struct.pack(">i", node_id) + _string(host) + struct.pack(">i", port) + _string(None)
    return body + _string(cluster_id) + struct.pack(">i", 1) + struct.pack(">i", 0)


def test_request_is_a_size_prefixed_metadata_v4_header() -> None:
    raw = encode_metadata_request(42)
    (size,) = struct.unpack(">i", raw[:4])
    assert size == len(raw) - 4
    api_key, version, correlation_id, client_len = struct.unpack(">hhih", raw[4:14])
    assert (api_key, version, correlation_id) == (3, 4, 42)
    assert raw[14 : 14 + client_len] == b"redline-probe"
    assert raw[14 + client_len :] == struct.pack(">ib", 0, 0)  # no topics, no auto-creation


def test_decode_reads_brokers_and_cluster_id() -> None:
    meta = decode_metadata_response(_response(7, [(1, "127.0.0.1", 9092)], "abc"), 7)
    assert [(b.node_id, b.host, b.port) for b in meta.brokers] == [(1, "127.0.0.1", 9092)]
    assert meta.cluster_id == "abc"
    assert meta.controller_id == 1


def test_decode_refuses_wrong_correlation_and_truncation() -> None:
    payload = _response(7, [(1, "h", 1)], None)
    with pytest.raises(ProtocolError, match="correlation"):
        decode_metadata_response(payload, 8)
    with pytest.raises(ProtocolError, match="truncated"):
        decode_metadata_response(payload[:15], 7)


@pytest.fixture
def one_shot_server() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server that answers one connection with whatever the test puts in the list."""
    replies: list[bytes] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(1024)
            if replies:
                conn.sendall(replies[0])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], replies
    server.close()
    thread.join(timeout=5)


def test_something_that_is_not_kafka_does_not_count(one_shot_server: tuple[int, list[bytes]]) -> None:
    port, replies = one_shot_server
    replies.append(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    assert not broker_answers("127.0.0.1", port, timeout_s=2)


def test_a_broker_listing_no_brokers_is_not_ready(one_shot_server: tuple[int, list[bytes]]) -> None:
    port, replies = one_shot_server
    payload = _response(0x5EED, [], "abc")
    replies.append(struct.pack(">i", len(payload)) + payload)
    meta = fetch_metadata("127.0.0.1", port, timeout_s=2)
    assert meta.brokers == () and meta.cluster_id == "abc"


def test_nothing_listening_means_not_answering() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert not broker_answers("127.0.0.1", port, timeout_s=1)


@pytest.mark.integration
def test_real_broker_answers_with_itself(kafka_bootstrap: str) -> None:
    host, port = kafka_bootstrap.rsplit(":", 1)
    meta = fetch_metadata(host, int(port))
    assert [(b.host, b.port) for b in meta.brokers] == [(host, int(port))]
    assert meta.cluster_id is not None and is_cluster_id(meta.cluster_id)
    assert broker_answers(host, int(port))
