"""Stores of the control plane. The backend is chosen here and nowhere else.

``StoreConfig.backend`` = ``memory`` (default: embedded, one process, API keys kept in
``<data_dir>/apikeys.json``) or ``redis`` (shared by several processes; API keys in
Redis too). ``StoreConfig`` is the ``[store]`` section, read by control/config.py like
every other (environment: ``CONSULT_SFU_STORE``, ``CONSULT_SFU_REDIS_URL``,
``CONSULT_SFU_REDIS_PREFIX``; ``data_dir`` is the server's unless set here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from control.data_dir import default_data_dir
from control.store.base import EventSubscription, Store, StoreError
from control.store.memory import MemoryStore

__all__ = ["EventSubscription", "Store", "StoreConfig", "StoreError", "create_store"]

BACKENDS = ("memory", "redis")


@dataclass(frozen=True)
class StoreConfig:
    backend: str = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "csfu:"
    data_dir: Path = field(default_factory=default_data_dir)


def create_store(config: StoreConfig, private_redis_url: str | None = None) -> Store:
    """The one place where memory or Redis is chosen.

    ``private_redis_url``: the node's own unpersisted redis-server, started by
    ``serve --workers N`` when the configured backend is ``memory``
    (:mod:`control.cluster.private_redis`). Its workers share rooms through it, while API
    keys stay in ``<data_dir>/apikeys.json`` as with the memory store, so they survive.
    """
    if private_redis_url is not None and config.backend == "memory":
        from control.store.redis import RedisStore

        return RedisStore(private_redis_url, prefix=config.redis_prefix, keys_dir=config.data_dir)
    if config.backend == "memory":
        return MemoryStore(data_dir=config.data_dir)
    if config.backend == "redis":
        from control.store.redis import RedisStore

        return RedisStore(config.redis_url, prefix=config.redis_prefix)
    raise ValueError(f"store backend must be one of {', '.join(BACKENDS)}, got {config.backend!r}")
