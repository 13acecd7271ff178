"""Sessions per client address (engine/address_limit.py)."""

from __future__ import annotations

from flask_realtime.engine.address_limit import AddressCounts, client_address

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
