"""Sessions per client address (``max_connections_per_address``): one host cannot take
every connection the server has.

The address is the peer's IP, or, with ``trust_forwarded_headers`` (behind a proxy that
sets it), the last entry of ``X-Forwarded-For``: the address the proxy nearest to us saw,
which the client cannot forge (entries before it can be anything the client sent). Past
the cap, a new session is refused with HTTP 429 and an Engine.IO error body; the client's
``connect_error`` fires and it retries later, as after any refused handshake.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["AddressCounts", "client_address"]


def client_address(
    headers: Mapping[str, str], remote_addr: tuple[str, int] | None, trust_forwarded: bool
) -> str | None:
    """The address a session is counted against (None when unknown: not counted)."""
    if trust_forwarded:
        forwarded = headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.rsplit(",", 1)[-1].strip() or None
    return remote_addr[0] if remote_addr else None


class AddressCounts:
    """Open sessions per client address, against a cap."""

    __slots__ = ("cap", "counts")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.counts: dict[str, int] = {}

    def full(self, address: str | None) -> bool:
        """Whether a new session from ``address`` would go past the cap."""
        return address is not None and self.counts.get(address, 0) >= self.cap

    def add(self, address: str | None) -> None:
        if address is not None:
            self.counts[address] = self.counts.get(address, 0) + 1

    def remove(self, address: str | None) -> None:
        if address is None:
            return
        left = self.counts.get(address, 0) - 1
        if left > 0:
            self.counts[address] = left
        else:
            self.counts.pop(address, None)
