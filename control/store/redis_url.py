"""``store.redis_url``: one Redis server, a Sentinel-watched master, or a Redis Cluster.

Syntax (documented in docs/configuration.md):

* ``redis://[:password@]host:port/db``, ``rediss://...`` (TLS), ``unix:///path/redis.sock?db=0``
  — one server, as redis-py reads them;
* ``redis+sentinel://[:password@]host1:26379,host2:26379/SERVICE[/db]`` — the master that the
  Sentinels at those addresses name for ``SERVICE`` (the ``sentinel monitor`` name); clients
  follow a failover by themselves. The password, if any, is the master's (Sentinels without
  auth);
* ``redis+cluster://[:password@]host1:7000,host2:7001`` — a Redis Cluster reached through any
  of those start-up nodes (no database number: a cluster has only db 0).

Parsing is pure (tested without a server); :mod:`control.store.redis` connects.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

SENTINEL_SCHEME = "redis+sentinel"
CLUSTER_SCHEME = "redis+cluster"


class RedisUrlError(ValueError):
    """A ``store.redis_url`` that cannot be used; the message says why."""


@dataclass(frozen=True)
class RedisTarget:
    kind: str  # "server", "sentinel" or "cluster"
    url: str = ""  # kind "server": the URL as given, for redis-py
    hosts: tuple[tuple[str, int], ...] = ()
    service: str = ""
    db: int = 0
    password: str | None = None


def parse_redis_url(url: str) -> RedisTarget:
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise RedisUrlError(f"store.redis_url {url!r} has no scheme (redis://, rediss://, unix://, {SENTINEL_SCHEME}://, {CLUSTER_SCHEME}://)")
    if scheme in ("redis", "rediss", "unix"):
        return RedisTarget("server", url=url)
    if scheme not in (SENTINEL_SCHEME, CLUSTER_SCHEME):
        raise RedisUrlError(f"store.redis_url: unknown scheme {scheme!r} (redis, rediss, unix, {SENTINEL_SCHEME}, {CLUSTER_SCHEME})")
    netloc, _, path = rest.partition("/")
    password = None
    if "@" in netloc:
        credentials, netloc = netloc.rsplit("@", 1)
        password = unquote(credentials.partition(":")[2] or credentials) or None
    hosts = tuple(_host_port(h, scheme) for h in netloc.split(",") if h)
    if not hosts:
        raise RedisUrlError(f"store.redis_url: {scheme}:// needs at least one host:port")
    parts = [p for p in path.split("/") if p]
    if scheme == CLUSTER_SCHEME:
        if parts:
            raise RedisUrlError(f"store.redis_url: {CLUSTER_SCHEME}:// takes no path (a cluster has only database 0)")
        return RedisTarget("cluster", hosts=hosts, password=password)
    if not parts or len(parts) > 2:
        raise RedisUrlError(f"store.redis_url: {SENTINEL_SCHEME}://host:port,.../SERVICE[/db] needs the service name")
    db = 0
    if len(parts) == 2:
        if not parts[1].isdigit():
            raise RedisUrlError(f"store.redis_url: database {parts[1]!r} is not a number")
        db = int(parts[1])
    return RedisTarget("sentinel", hosts=hosts, service=unquote(parts[0]), db=db, password=password)


def _host_port(text: str, scheme: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise RedisUrlError(f"store.redis_url: {text!r} is not host:port ({scheme}:// lists every host with its port)")
    host = host.strip("[]")  # [::1]:26379
    value = int(port)
    if not 0 < value < 65536:
        raise RedisUrlError(f"store.redis_url: port {value} is out of range")
    return host, value
