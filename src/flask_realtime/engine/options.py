"""Engine.IO server options, with python-engineio's names and defaults."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..exceptions import ConfigurationError

__all__ = ["CorsOrigins", "EngineOptions"]

CorsOrigins = str | Sequence[str] | Callable[[str], bool] | None
"""``None``: same origin only; ``"*"``: any; a list: those; a callable: decides per origin."""

TRANSPORTS = ("polling", "websocket")


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Settings of one Engine.IO server.

    Times are in seconds (the handshake reports them in whole milliseconds, as Node does).
    """

    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    max_http_buffer_size: int = 1_000_000
    allow_upgrades: bool = True
    transports: tuple[str, ...] = TRANSPORTS
    cookie: str | dict[str, Any] | None = None
    cors_allowed_origins: CorsOrigins = None
    cors_credentials: bool = True
    trust_forwarded_headers: bool = False
    """Let ``X-Forwarded-Host``/``-Proto`` count in the same-origin check (behind a proxy)."""
    http_compression: bool = True
    compression_threshold: int = 1024
    path: str = "socket.io"
    upgrade_timeout: float = 10.0
    max_connections: int = 100_000
    max_connections_per_address: int | None = None
    """Sessions one client address may hold (``address_limit.py``); past it 429. None: no cap."""
    address_ipv6_prefix: int = 64
    """IPv6 addresses count against ``max_connections_per_address`` per network of this many
    bits (a host can pick any address of its /64); 128 counts each address alone."""
    max_payload_packets: int = 10_000
    max_buffered_bytes: int = 16 * 1024 * 1024
    """Bytes of messages that may wait for one client (queued for its next poll, or unread
    on its WebSocket); past it the client reads too slowly and is disconnected."""

    def __post_init__(self) -> None:
        if isinstance(self.transports, str):
            object.__setattr__(self, "transports", (self.transports,))
        unknown = [t for t in self.transports if t not in TRANSPORTS]
        if unknown or not self.transports:
            raise ConfigurationError(
                f"transports must be a non-empty subset of {TRANSPORTS}, got {self.transports!r}"
            )
        for name in ("ping_interval", "ping_timeout", "upgrade_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"{name} must be a positive number of seconds")
        cap = self.max_connections_per_address
        if cap is not None and (type(cap) is not int or cap < 1):
            raise ConfigurationError(
                f"max_connections_per_address must be a positive int or None, not {cap!r}"
            )
        prefix = self.address_ipv6_prefix
        if type(prefix) is not int or not 1 <= prefix <= 128:
            raise ConfigurationError(
                f"address_ipv6_prefix must be an int from 1 to 128, not {prefix!r}"
            )
        for name in ("max_http_buffer_size", "max_buffered_bytes"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"{name} must be a positive number of bytes")

    @property
    def url_path(self) -> str:
        """The endpoint's path with slashes: ``/socket.io/`` (``/`` for the root, not ``//``)."""
        inner = self.path.strip("/")
        return f"/{inner}/" if inner else "/"
