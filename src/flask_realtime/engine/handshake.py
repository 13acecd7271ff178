"""The HTTP request that opened an Engine.IO session, as the layers above may read it.

A plain record, apart from the session itself: the Flask side builds its request from it
and the test client makes one without any session machinery.

It is kept for the session's whole life, so it keeps only what the garbage collector need
not walk: strings, and the headers as a dict of strings (a dict of atoms is not tracked).
The parsed query, a dict of lists (three tracked objects per session, walked by every
full collection while the session lives), is made from ``query_string`` when read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .http import parse_query

__all__ = ["Handshake"]


@dataclass(frozen=True, slots=True)
class Handshake:
    """The HTTP request that opened the session (first polling GET or WebSocket upgrade)."""

    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]
    remote_addr: tuple[str, int] | None = None
    scheme: str = "http"

    @property
    def query(self) -> dict[str, list[str]]:
        """The query's arguments, each with its values in order (a new dict each time:
        read rarely, and not worth keeping for the session's life, see the module doc)."""
        return parse_query(self.query_string)
