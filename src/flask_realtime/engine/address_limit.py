"""Sessions per client address (``max_connections_per_address``): one host cannot take
every connection the server has.

The address is the peer's IP, or, with ``trust_forwarded_headers`` (behind a proxy that
sets it), the last entry of ``X-Forwarded-For``: the address the proxy nearest to us saw,
which the client cannot forge (entries before it can be anything the client sent). Past
the cap, a new session is refused with HTTP 429 and an Engine.IO error body; the client's
``connect_error`` fires and it retries later, as after any refused handshake.

IPv6 addresses are counted per prefix (``address_ipv6_prefix``, 64 bits by default): one
host or customer commonly gets a whole /64 and can pick any address in it, so counting
full addresses would let it rotate past the cap for free. IPv4 addresses (and IPv4-mapped
IPv6 ones, ``::ffff:a.b.c.d``) count as they are.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

__all__ = ["AddressCounts", "address_key", "client_address"]


def client_address(
    headers: Mapping[str, str], remote_addr: tuple[str, int] | None, trust_forwarded: bool
) -> str | None:
    """The address a session is counted against (None when unknown: not counted)."""
    if trust_forwarded:
        forwarded = headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.rsplit(",", 1)[-1].strip() or None
    return remote_addr[0] if remote_addr else None


def address_key(address: str | None, ipv6_prefix: int = 64) -> str | None:
    """What ``address`` is counted as: an IPv4 address itself, an IPv6 one as its network
    of ``ipv6_prefix`` bits (``"2001:db8:1:2::/64"``); anything that does not parse as an
    IP address (a Unix socket, a proxy's odd entry) as it is."""
    if address is None or ":" not in address:
        return address  # IPv4 (or not an IP address): the fast, common case
    try:
        ip = ipaddress.IPv6Address(address.split("%", 1)[0])  # without a zone: fe80::1%eth0
    except ValueError:
        return address
    mapped = ip.ipv4_mapped
    if mapped is not None:
        return str(mapped)
    if ipv6_prefix >= 128:
        return str(ip)
    return str(ipaddress.IPv6Network((ip, ipv6_prefix), strict=False))


class AddressCounts:
    """Open sessions per client address (an IPv6 one per prefix: :func:`address_key`),
    against a cap. Callers pass addresses as :func:`client_address` gives them."""

    __slots__ = ("cap", "counts", "ipv6_prefix")

    def __init__(self, cap: int, ipv6_prefix: int = 64) -> None:
        self.cap = cap
        self.ipv6_prefix = ipv6_prefix
        self.counts: dict[str, int] = {}

    def full(self, address: str | None) -> bool:
        """Whether a new session from ``address`` would go past the cap."""
        key = address_key(address, self.ipv6_prefix)
        return key is not None and self.counts.get(key, 0) >= self.cap

    def add(self, address: str | None) -> None:
        key = address_key(address, self.ipv6_prefix)
        if key is not None:
            self.counts[key] = self.counts.get(key, 0) + 1

    def remove(self, address: str | None) -> None:
        address = address_key(address, self.ipv6_prefix)
        if address is None:
            return
        left = self.counts.get(address, 0) - 1
        if left > 0:
            self.counts[address] = left
        else:
            self.counts.pop(address, None)
