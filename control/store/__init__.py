"""Stores of the control plane. The backend is chosen here and nowhere else.

``StoreConfig.backend`` = ``memory`` (default: embedded, one process, API keys kept in
``<data_dir>/apikeys.json``) or ``redis`` (shared by several processes; API keys in
Redis too). Environment (read by the lead's config loader): ``CONSULT_SFU_STORE``,
``CONSULT_SFU_REDIS_URL``, ``CONSULT_SFU_DATA_DIR``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from control.store.base import EventSubscription, Store, StoreError
from control.store.memory import MemoryStore

__all__ = ["EventSubscription", "Store", "StoreConfig", "StoreError", "create_store"]

BACKENDS = ("memory", "redis")


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "consult-sfu"


@dataclass(frozen=True)
class StoreConfig:
    backend: str = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "csfu:"
    data_dir: Path = field(default_factory=_default_data_dir)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> StoreConfig:
        env = dict(os.environ if env is None else env)
        defaults = cls()
        return cls(
            backend=env.get("CONSULT_SFU_STORE", defaults.backend),
            redis_url=env.get("CONSULT_SFU_REDIS_URL", defaults.redis_url),
            redis_prefix=env.get("CONSULT_SFU_REDIS_PREFIX", defaults.redis_prefix),
            data_dir=Path(env["CONSULT_SFU_DATA_DIR"]) if "CONSULT_SFU_DATA_DIR" in env else defaults.data_dir,
        )


def create_store(config: StoreConfig) -> Store:
    """The one place where memory or Redis is chosen."""
    if config.backend == "memory":
        return MemoryStore(data_dir=config.data_dir)
    if config.backend == "redis":
        from control.store.redis import RedisStore

        return RedisStore(config.redis_url, prefix=config.redis_prefix)
    raise ValueError(f"store backend must be one of {', '.join(BACKENDS)}, got {config.backend!r}")
