"""Redis ``message_queue`` URLs, resolved once: topology, pub/sub flavour, redis-py's own
parameters passed on, and clear errors for ours."""

from __future__ import annotations

import pytest

from flask_realtime.adapters.redis_connect import SubscriptionMode, parse_redis_url
from flask_realtime.exceptions import ConfigurationError


def test_a_plain_url_is_classic_pub_sub_on_one_redis() -> None:
    target = parse_redis_url("redis://:secret@127.0.0.1:6379/2")
    assert target.url == "redis://:secret@127.0.0.1:6379/2"
    assert target.shown == "redis://:***@127.0.0.1:6379/2"
    assert (target.cluster, target.sharded, target.seeds) == (False, False, ())


def test_a_cluster_url_lists_its_seed_nodes() -> None:
    target = parse_redis_url("rediss+cluster://u:pw@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002")
    assert target.cluster
    assert target.url == "rediss://u:pw@10.0.0.1:7000"
    assert target.seeds == (("10.0.0.2", 7001), ("::1", 7002))
    assert "pw" not in target.shown


def test_sharded_and_its_mode_are_ours_the_rest_goes_to_redis_py() -> None:
    target = parse_redis_url(
        "rediss://h:6380/0?ssl_ca_certs=/ca.pem&sharded=true&subscription_mode=static"
    )
    assert target.sharded
    assert target.mode is SubscriptionMode.STATIC
    assert target.url == "rediss://h:6380/0?ssl_ca_certs=%2Fca.pem"
    assert parse_redis_url("redis://h?sharded=1").mode is SubscriptionMode.DYNAMIC


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://h?sharded=maybe", "sharded='maybe' is not true or false"),
        ("redis://h?subscription_mode=static", "subscription_mode is for sharded pub/sub"),
        ("redis://h?sharded=true&subscription_mode=all", "must be static, dynamic or"),
        ("redis+cluster://h:1,h:port", "'h:port' is not host:port"),
        ("http://h", "is not a Redis URL"),
    ],
)
def test_our_parameters_are_checked(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_redis_url(url)
