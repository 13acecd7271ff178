"""The HTTP request that opened an Engine.IO session, as the layers above may read it.

A plain record, apart from the session itself: the Flask side builds its request from it
and the test client makes one without any session machinery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Handshake"]


@dataclass(frozen=True, slots=True)
class Handshake:
    """The HTTP request that opened the session (first polling GET or WebSocket upgrade)."""

    method: str
    path: str
    query_string: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    remote_addr: tuple[str, int] | None = None
    scheme: str = "http"
