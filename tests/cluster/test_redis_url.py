"""store.redis_url: one server, Sentinel, Cluster; bad URLs named clearly (pure parsing)."""

from __future__ import annotations

import pytest

from control.config import ConfigError, load
from control.store.redis_url import RedisTarget, RedisUrlError, parse_redis_url


def test_one_server_urls_go_to_redis_py_as_given() -> None:
    for url in ("redis://127.0.0.1:6379/0", "rediss://:pw@h:6380/2", "unix:///tmp/r.sock?db=0"):
        assert parse_redis_url(url) == RedisTarget("server", url=url)


def test_sentinel() -> None:
    assert parse_redis_url("redis+sentinel://h1:26379,[::1]:26380/mymaster/3") == RedisTarget(
        "sentinel", hosts=(("h1", 26379), ("::1", 26380)), service="mymaster", db=3
    )
    target = parse_redis_url("redis+sentinel://:s%40cret@h1:26379/svc")
    assert (target.service, target.db, target.password) == ("svc", 0, "s@cret")


def test_cluster() -> None:
    assert parse_redis_url("redis+cluster://a:7000,b:7001") == RedisTarget("cluster", hosts=(("a", 7000), ("b", 7001)))


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("127.0.0.1:6379", "no scheme"),
        ("http://h:1", "unknown scheme"),
        ("redis+sentinel://h1:26379", "service name"),
        ("redis+sentinel://h1/svc", "host:port"),
        ("redis+sentinel://h1:26379/svc/x", "not a number"),
        ("redis+cluster://h1:7000/0", "takes no path"),
        ("redis+cluster://", "at least one host"),
        ("redis+cluster://h:99999", "out of range"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, words: str) -> None:
    with pytest.raises(RedisUrlError, match=words):
        parse_redis_url(url)


def test_a_bad_url_stops_the_server_at_start_up() -> None:
    with pytest.raises(ConfigError, match="service name"):
        load(None, env={"CONSULT_SFU_STORE": "redis", "CONSULT_SFU_REDIS_URL": "redis+sentinel://h:1"})
    with pytest.raises(ConfigError, match="heartbeat_s"):
        load(None, env={"CONSULT_SFU_CLUSTER_HEARTBEAT_S": "2", "CONSULT_SFU_CLUSTER_LEASE_S": "3"})
