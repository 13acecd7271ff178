"""What one client may do (server/client_limits.py): rates parsed, buckets, throttled log."""

from __future__ import annotations

import logging

import pytest

from flask_realtime.exceptions import ConfigurationError
from flask_realtime.server.client_limits import (
    ConnectionRateLimit,
    EventRateLimit,
    QuietLog,
    RatePolicy,
    TokenBucket,
    parse_rate,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5/s", (5.0, 1.0)),
        ("100/min", (100.0, 60.0)),
        ("1000 / hour", (1000.0, 3600.0)),
        ("10 per 2s", (10.0, 2.0)),
        ("2.5/second", (2.5, 1.0)),
        ((3, 60), (3.0, 60.0)),
    ],
)
def test_rates_are_read(text: object, expected: tuple[float, float]) -> None:
    assert parse_rate(text, "rate") == expected


@pytest.mark.parametrize("bad", ["", "5", "5/fortnight", "x/s", (0, 1), (1, 0), (True, 1), 5])
def test_bad_rates_are_refused(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="rate"):
        parse_rate(bad, "rate")


def test_a_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = TokenBucket(rate=2.0, burst=4.0, now=0.0)
    bucket.tokens -= 4
    assert bucket.refill(1.0) == 2.0
    assert bucket.refill(100.0) == 4.0


def test_packets_past_the_rate_are_refused_until_it_refills() -> None:
    limit = ConnectionRateLimit(packets=3, size=None, policy=RatePolicy.DROP, now=0.0)
    assert [limit.admit(0.0) for _ in range(4)] == [None, None, None, "over 3 packets/s"]
    assert limit.admit(0.4) is None  # 1.2 tokens came back
    assert limit.admit(0.4) == "over 3 packets/s"


def test_bytes_are_charged_per_message_and_refuse_the_packet_in_debt() -> None:
    limit = ConnectionRateLimit(packets=None, size=100, policy=RatePolicy.DROP, now=0.0)
    limit.charge_bytes(60)
    assert limit.admit(0.0) is None
    limit.charge_bytes(60)
    assert limit.admit(0.0) == "over 100 bytes/s"
    assert limit.admit(0.2) is None  # 20 bytes came back: out of debt


def test_an_event_limit_is_kept_per_connection_state() -> None:
    limit = EventRateLimit((2, 60), "chat")
    first: dict[object, object] = {}
    second: dict[object, object] = {}
    assert [limit.admit(first, "a") for _ in range(3)] == [True, True, False]
    assert limit.admit(second, "b")


def test_quiet_log_says_how_many_lines_it_hid(caplog: pytest.LogCaptureFixture) -> None:
    quiet = QuietLog(quiet=0.0)
    hushed = QuietLog(quiet=3600.0)
    with caplog.at_level(logging.INFO, logger="flask_realtime.server.client_limits"):
        for _ in range(3):
            hushed.log(logging.INFO, "k", "line")
        quiet.log(logging.INFO, "k", "other")
    assert [r.getMessage() for r in caplog.records] == ["line", "other"]
    hushed.quiet = 0.0
    with caplog.at_level(logging.INFO, logger="flask_realtime.server.client_limits"):
        hushed.log(logging.INFO, "k", "line")
    assert caplog.records[-1].getMessage() == "line (2 more like it not logged)"
