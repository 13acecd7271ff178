"""Helpers of the WSGI tests (``test_wsgi_*``): type aliases and an app iterable
that records ``close()``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from support.server_thread import ServerThread

from .httpkit import RawHttpClient

Serve = Callable[..., ServerThread]
Connect = Callable[..., RawHttpClient]
Environ = dict[str, Any]
StartResponse = Callable[..., Any]

MiB = 2**20


class ClosingBody:
    """An app iterable that records ``close()``."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.closed = threading.Event()
        self.produced = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.produced += len(chunk)
            yield chunk

    def close(self) -> None:
        self.closed.set()
