"""Redis store: several server processes share rooms, queues, announcements and API keys.

Values are msgpack maps under ``<prefix>room:<id>``, ``<prefix>dept:<org>:<name>``,
``<prefix>org:<org>`` and ``<prefix>apikey:<key id>`` (hashes only); room indexes are
sets (``<prefix>idx:org:<org>``, ``<prefix>idx:dept:<org>:<name>``).

Atomic state changes use optimistic transactions: WATCH the key, read it, apply the
pure update, MULTI/SET/EXEC; a concurrent writer makes EXEC fail and the update is
retried on the fresh value. Two practitioners admitting the same client at the same
moment therefore admit once: the retry sees the client no longer waiting.

Consultation records (chat transcripts) are lists, ``<prefix>consultation:<kind>:<room>``,
appended by a Lua script (LLEN, refused when full, RPUSH, PEXPIREAT: one atomic step), read with LRANGE
and taken by a Lua script (LRANGE, DEL: exactly one caller gets them).

Events go through one pub/sub channel, ``<prefix>events``, so every process's lobby
hears about admissions made through another process's API.

Deployments: one server, a Sentinel-watched master or a Redis Cluster
(:mod:`control.store.redis_url`). Every operation touches one key (transactions WATCH one
key), so all of them work on a cluster; reading many rooms at once goes slot by slot there.

``keys_dir``: API keys in ``<data_dir>/apikeys.json`` instead of Redis, for a node's private,
unpersisted redis-server (:mod:`control.store.apikeys_file`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisClusterException, RedisError, WatchError

from control.domain.rules import Event
from control.store.apikeys_file import ApiKeyFile
from control.store.base import (
    Delete,
    EventSubscription,
    NewValue,
    SetWhen,
    Store,
    StoreError,
    pack,
    unpack,
)
from control.store.redis_url import parse_redis_url

T = TypeVar("T")
log = logging.getLogger(__name__)

MAX_TRANSACTION_RETRIES = 50
#: Connect and per-command time limits: a Redis that stopped answering fails calls quickly
#: (joins get ``unavailable``) instead of hanging them; media never waits on Redis.
SOCKET_TIMEOUT_S = 2.0
#: Append to a consultation record list unless it is full, and set its expiry: one atomic
#: step on one key (no WATCH retries when many participants write at once; Cluster-safe).
_APPEND_BOUNDED = """
local length = redis.call('LLEN', KEYS[1])
if length >= tonumber(ARGV[2]) then return -1 end
length = redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return length
"""
#: Read a consultation record list and delete it: one atomic step (one caller gets it).
_TAKE = """
local items = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return items
"""


def _bytes(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


class _RedisSubscription(EventSubscription):
    def __init__(self, pubsub: Any) -> None:
        self._pubsub = pubsub

    async def _iterate(self) -> AsyncIterator[Event]:
        messages = self._pubsub.listen()
        while True:
            try:
                msg = await anext(messages)
            except StopAsyncIteration:
                return
            except RedisError as exc:
                raise StoreError(f"redis events: {exc}") from exc
            if msg.get("type") != "message":
                continue
            try:
                yield Event.from_dict(unpack(msg["data"]))
            except (StoreError, KeyError, TypeError, ValueError) as exc:
                log.warning("ignoring a malformed event on the channel: %s", exc)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def close(self) -> None:
        # No UNSUBSCRIBE round trip: the reader may have been cancelled mid-read, so the
        # connection is simply dropped (Redis forgets the subscription with it).
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()


def connect(url: str) -> Any:
    """A redis-py asyncio client for ``url`` (one server, Sentinel or Cluster)."""
    target = parse_redis_url(url)
    timeouts: dict[str, Any] = {"socket_timeout": SOCKET_TIMEOUT_S, "socket_connect_timeout": SOCKET_TIMEOUT_S}
    if target.kind == "sentinel":
        sentinel = Sentinel(list(target.hosts), sentinel_kwargs=dict(timeouts), **timeouts)
        return sentinel.master_for(target.service, db=target.db, password=target.password, decode_responses=False)
    if target.kind == "cluster":
        nodes = [ClusterNode(host, port) for host, port in target.hosts]
        return RedisCluster(startup_nodes=nodes, password=target.password, decode_responses=False, **timeouts)
    return aioredis.Redis.from_url(url, decode_responses=False, **timeouts)


class RedisStore(Store):
    def __init__(self, url: str, prefix: str = "csfu:", keys_dir: Path | None = None) -> None:
        self._redis = connect(url)
        self._cluster = isinstance(self._redis, RedisCluster)
        self._prefix = prefix
        self._channel = f"{prefix}events"
        self._keys_file = None if keys_dir is None else ApiKeyFile(keys_dir)
        self._append_script = self._redis.register_script(_APPEND_BOUNDED)
        self._take_script = self._redis.register_script(_TAKE)

    def _k(self, key: str) -> str:
        return self._prefix + key

    async def _get(self, key: str) -> bytes | None:
        try:
            value = await self._redis.get(self._k(key))
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        return _bytes(value)

    async def _get_many(self, keys: list[str]) -> list[bytes | None]:
        full = [self._k(k) for k in keys]
        try:
            # A cluster's MGET must stay in one slot: there, one slot at a time.
            values = await (self._redis.mget_nonatomic(full) if self._cluster else self._redis.mget(full))
        except (RedisError, RedisClusterException) as exc:
            raise StoreError(f"redis: {exc}") from exc
        return [_bytes(v) for v in values]

    async def _set(self, key: str, value: bytes, ttl_s: float | None, when: SetWhen) -> bool:
        px = None if ttl_s is None else max(1, int(ttl_s * 1000))
        try:
            done = await self._redis.set(
                self._k(key), value, px=px, nx=when is SetWhen.NEW, xx=when is SetWhen.EXISTS
            )
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        return bool(done)

    async def _delete(self, key: str) -> bool:
        try:
            return bool(await self._redis.delete(self._k(key)))
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc

    async def _put_new(self, key: str, value: bytes) -> bool:
        try:
            return bool(await self._redis.set(self._k(key), value, nx=True))
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc

    async def _ttl(self, key: str) -> float | None:
        try:
            ms = int(await self._redis.pttl(self._k(key)))
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        return None if ms < 0 else ms / 1000.0  # -2: absent, -1: no time to live

    async def _update(self, key: str, fn: Callable[[bytes | None], tuple[NewValue, T]]) -> T:
        full = self._k(key)
        try:
            for _ in range(MAX_TRANSACTION_RETRIES):
                async with self._redis.pipeline(transaction=True) as pipe:
                    try:
                        await pipe.watch(full)
                        old = await pipe.get(full)
                        new, result = fn(_bytes(old))
                        if new is None:
                            await pipe.unwatch()
                            return result
                        pipe.multi()
                        if new is Delete.KEY:
                            pipe.delete(full)
                        else:
                            pipe.set(full, new)
                        await pipe.execute()
                        return result
                    except WatchError:
                        continue
        except (RedisError, RedisClusterException) as exc:
            raise StoreError(f"redis: {exc}") from exc
        raise StoreError(f"too much contention on {key}; gave up after {MAX_TRANSACTION_RETRIES} tries")

    async def _index_add(self, index: str, member: str) -> None:
        try:
            await self._redis.sadd(self._k(index), member)
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc

    async def _index_remove(self, index: str, member: str) -> bool:
        try:
            return bool(await self._redis.srem(self._k(index), member))
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc

    async def _index_members(self, index: str) -> list[str]:
        try:
            members = await self._redis.smembers(self._k(index))
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        return [m.decode() if isinstance(m, bytes) else str(m) for m in members]

    async def publish(self, event: Event) -> None:
        try:
            await self._redis.publish(self._channel, pack(event.to_dict()))
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc

    async def subscribe(self) -> EventSubscription:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self._channel)
        except RedisError as exc:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()
            raise StoreError(f"redis: {exc}") from exc
        return _RedisSubscription(pubsub)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except RedisError:
            return False

    async def close(self) -> None:
        await self._redis.aclose()

    # ------------------------------------------------------------ consultation records

    async def _records_append(self, key: str, value: bytes, max_items: int, expires_at: float) -> int | None:
        try:
            length = await self._append_script(keys=[self._k(key)], args=[value, max_items, max(1, int(expires_at * 1000))])
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        return None if int(length) < 0 else int(length)

    async def _records_read(self, key: str) -> list[bytes]:
        try:
            items = await self._redis.lrange(self._k(key), 0, -1)
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        return [v for v in (_bytes(i) for i in items) if v is not None]

    async def _records_take(self, key: str) -> list[bytes]:
        try:
            items = await self._take_script(keys=[self._k(key)])
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        return [v for v in (_bytes(i) for i in items) if v is not None]
