"""The end-of-consultation audit: what a consultation wrote must be gone once it has ended.

Content is found by *markers*: strings the test puts in every message, link and file (and
the words a caption recognised), looked for byte for byte in every key of the store (each
value read by its type, so nothing hides in a hash or a list) and in every file under the
directories the server may write to. That catches a store nobody registered, which a
list of known keys could not.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import redis.asyncio as redis

from control.store.consultation_data import records_key, registered_kinds


def files_under(*roots: Path) -> set[Path]:
    """Every regular file under ``roots`` (that exist)."""
    found: set[Path] = set()
    for root in roots:
        for folder, _, names in os.walk(root):
            found.update(Path(folder) / name for name in names)
    return found


def files_holding(paths: Iterable[Path], markers: list[bytes]) -> dict[str, list[bytes]]:
    """The files (of ``paths``) whose bytes contain one of ``markers``: which ones."""
    hits: dict[str, list[bytes]] = {}
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:  # gone meanwhile (a socket, a file another process removed)
            continue
        found = [m for m in markers if m in data]
        if found:
            hits[str(path)] = found
    return hits


async def _values(client: redis.Redis, key: bytes) -> list[bytes]:
    kind = (await client.type(key)).decode()
    if kind == "string":
        value = await client.get(key)
        return [] if value is None else [value]
    if kind == "hash":
        return [part for pair in (await client.hgetall(key)).items() for part in pair]
    if kind == "list":
        return list(await client.lrange(key, 0, -1))
    if kind == "set":
        return list(await client.smembers(key))
    if kind == "zset":
        return list(await client.zrange(key, 0, -1))
    if kind == "stream":
        return [part for _, fields in await client.xrange(key) for pair in fields.items() for part in pair]
    return []  # gone meanwhile ("none")


async def store_keys_holding(redis_url: str, prefix: str, markers: list[bytes]) -> dict[str, list[bytes]]:
    """The keys under ``prefix`` whose name or value contains one of ``markers``."""
    hits: dict[str, list[bytes]] = {}
    client = redis.Redis.from_url(redis_url)
    try:
        async for key in client.scan_iter(match=prefix.encode() + b"*", count=500):
            blobs = [key, *await _values(client, key)]
            found = [m for m in markers if any(m in blob for blob in blobs)]
            if found:
                hits[key.decode(errors="replace")] = found
    finally:
        await client.aclose()
    return hits


async def consultation_records_left(redis_url: str, prefix: str, room: str) -> list[str]:
    """The registered consultation-record lists (control/store/consultation_data.py) of
    ``room`` still in the store."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = [prefix + records_key(kind, room) for kind in sorted(registered_kinds())]
        return [key for key in keys if await client.exists(key)]
    finally:
        await client.aclose()
