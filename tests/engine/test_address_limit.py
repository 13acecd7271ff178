"""Sessions per client address (engine/address_limit.py)."""

from __future__ import annotations

from flask_realtime.engine.address_limit import AddressCounts, address_key, client_address

PEER = ("198.51.100.7", 5000)


def test_the_peer_address_counts_unless_forwarded_headers_are_trusted() -> None:
    headers = {"x-forwarded-for": "1.1.1.1, 203.0.113.9"}
    assert client_address(headers, PEER, trust_forwarded=False) == "198.51.100.7"
    # the last entry: the one the proxy nearest to us wrote; the first is the client's say
    assert client_address(headers, PEER, trust_forwarded=True) == "203.0.113.9"
    assert client_address({}, PEER, trust_forwarded=True) == "198.51.100.7"
    assert client_address({}, None, trust_forwarded=False) is None


def test_counts_fill_to_the_cap_and_free_on_removal() -> None:
    counts = AddressCounts(2)
    counts.add("a")
    assert not counts.full("a")
    counts.add("a")
    assert counts.full("a")
    assert not counts.full("b")
    assert not counts.full(None)  # an unknown address is not counted
    counts.remove("a")
    counts.remove("a")
    assert counts.counts == {}  # no entry left behind for a gone address
    counts.remove(None)


def test_ipv6_addresses_count_per_prefix() -> None:
    """An IPv6 host may use any address of its /64: all of them count as one."""
    counts = AddressCounts(1)
    counts.add("2001:db8:1:2::1")
    assert counts.full("2001:db8:1:2:ffff:ffff:ffff:ffff")  # same /64
    assert not counts.full("2001:db8:1:3::1")  # the next /64 is someone else
    assert counts.counts == {"2001:db8:1:2::/64": 1}
    counts.remove("2001:db8:1:2::abcd")  # any address of the prefix frees its slot
    assert counts.counts == {}


def test_the_ipv6_prefix_length_is_configurable() -> None:
    wide = AddressCounts(1, ipv6_prefix=48)
    wide.add("2001:db8:1:2::1")
    assert wide.full("2001:db8:1:ffff::1")
    exact = AddressCounts(1, ipv6_prefix=128)
    exact.add("2001:db8::1")
    assert not exact.full("2001:db8::2")
    assert exact.full("2001:db8:0::1")  # the same address, written otherwise


def test_address_keys_of_ipv4_mapped_zoned_and_odd_addresses() -> None:
    assert address_key("198.51.100.7") == "198.51.100.7"
    assert address_key("::ffff:198.51.100.7") == "198.51.100.7"  # a dual-stack socket
    assert address_key("fe80::1%eth0") == "fe80::/64"
    assert address_key("not-an-ip:at all") == "not-an-ip:at all"  # counted as it is
    assert address_key(None) is None
