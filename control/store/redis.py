"""Redis store: several server processes share rooms, queues, announcements and API keys.

Values are msgpack maps under ``<prefix>room:<id>``, ``<prefix>dept:<org>:<name>``,
``<prefix>org:<org>`` and ``<prefix>apikey:<key id>`` (hashes only); room indexes are
sets (``<prefix>idx:org:<org>``, ``<prefix>idx:dept:<org>:<name>``).

Atomic state changes use optimistic transactions: WATCH the key, read it, apply the
pure update, MULTI/SET/EXEC; a concurrent writer makes EXEC fail and the update is
retried on the fresh value. Two practitioners admitting the same client at the same
moment therefore admit once: the retry sees the client no longer waiting.

Events go through one pub/sub channel, ``<prefix>events``, so every process's lobby
hears about admissions made through another process's API.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError, WatchError

from control.domain.rules import Event
from control.store.base import EventSubscription, Store, StoreError, pack, unpack

T = TypeVar("T")
log = logging.getLogger(__name__)

MAX_TRANSACTION_RETRIES = 50


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


class RedisStore(Store):
    def __init__(self, url: str, prefix: str = "csfu:") -> None:
        self._redis = aioredis.Redis.from_url(url, decode_responses=False)
        self._prefix = prefix
        self._channel = f"{prefix}events"

    def _k(self, key: str) -> str:
        return self._prefix + key

    async def _get(self, key: str) -> bytes | None:
        try:
            value = await self._redis.get(self._k(key))
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        return _bytes(value)

    async def _get_many(self, keys: list[str]) -> list[bytes | None]:
        try:
            values = await self._redis.mget([self._k(k) for k in keys])
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        return [_bytes(v) for v in values]

    async def _put_new(self, key: str, value: bytes) -> bool:
        try:
            return bool(await self._redis.set(self._k(key), value, nx=True))
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc

    async def _update(self, key: str, fn: Callable[[bytes | None], tuple[bytes | None, T]]) -> T:
        full = self._k(key)
        try:
            for _ in range(MAX_TRANSACTION_RETRIES):
                async with self._redis.pipeline(transaction=True) as pipe:
                    try:
                        await pipe.watch(full)
                        old = await pipe.get(full)
                        new, result = fn(_bytes(old))
                        pipe.multi()
                        if new is not None:
                            pipe.set(full, new)
                        await pipe.execute()
                        return result
                    except WatchError:
                        continue
        except RedisError as exc:
            raise StoreError(f"redis: {exc}") from exc
        raise StoreError(f"too much contention on {key}; gave up after {MAX_TRANSACTION_RETRIES} tries")

    async def _index_add(self, index: str, member: str) -> None:
        try:
            await self._redis.sadd(self._k(index), member)
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
