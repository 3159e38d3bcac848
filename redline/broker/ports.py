"""Checking whether a TCP port is free and picking free ones."""

from __future__ import annotations

import socket


def port_is_free(host: str, port: int) -> bool:
    """True when a server could listen on ``host:port`` right now.

    ``SO_REUSEADDR`` is set like the broker sets it, so sockets lingering in TIME_WAIT after a
    previous broker do not count as taken, while any listening socket does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def find_free_port(host: str = "127.0.0.1", *, exclude: frozenset[int] = frozenset()) -> int:
    """A port the kernel reports free on ``host`` (not in ``exclude``).

    There is an unavoidable race between picking the port and the broker binding it; the kernel
    hands out ephemeral ports round-robin, which makes a collision unlikely.
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in exclude:
            return port
    raise OSError(f"no free port found on {host}")  # pragma: no cover - kernel out of ports
