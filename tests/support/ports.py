"""A free TCP port of 127.0.0.1, for a server that must be told its port (one that cannot
bind port 0 and say which port it got)."""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port() -> int:
    """A port nobody listens on now (another process could take it before the server does:
    use port 0 wherever the server can report the port it got)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
