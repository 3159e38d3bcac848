from __future__ import annotations

import socket

from redline.broker.ports import find_free_port, port_is_free


def test_a_listening_port_is_not_free() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
    assert port_is_free("127.0.0.1", port)


def test_a_port_held_on_all_interfaces_is_not_free_on_loopback() -> None:
    with socket.socket() as server:
        server.bind(("0.0.0.0", 0))
        server.listen()
        assert not port_is_free("127.0.0.1", server.getsockname()[1])


def test_find_free_port_returns_a_bindable_port_outside_exclude() -> None:
    first = find_free_port()
    assert port_is_free("127.0.0.1", first)
    assert find_free_port(exclude=frozenset({first})) != first
