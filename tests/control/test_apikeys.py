"""API keys: created by the CLI, printed once, stored hashed, surviving a restart."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import pytest

from control.apikeys import ApiKeyVerifier, cli_create
from control.config import load
from control.domain.errors import InvalidField, Unauthorized
from control.domain.scope import Scope
from control.store import StoreConfig, create_store


def _scope(config: StoreConfig, key: str) -> Scope:
    async def run() -> Scope:
        store = create_store(config)
        try:
            return await ApiKeyVerifier(store).scope_for(f"Bearer {key}")
        finally:
            await store.close()

    return asyncio.run(run())


def test_memory_keys_survive_a_restart_and_only_hashes_are_stored(tmp_path: Path) -> None:
    config = StoreConfig(backend="memory", data_dir=tmp_path / "data")
    key = cli_create("clinic", None, config)
    dept_key = cli_create("clinic", "cardio", config)
    assert key.startswith("csk_") and key != dept_key
    path = tmp_path / "data" / "apikeys.json"
    text = path.read_text()
    assert key.split("_", 2)[2] not in text and dept_key.split("_", 2)[2] not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert {r["org"] for r in json.loads(text)} == {"clinic"}
    # a fresh store (a restarted server) accepts them with their scopes
    assert _scope(config, key) == Scope("clinic", None)
    assert _scope(config, dept_key) == Scope("clinic", "cardio")
    with pytest.raises(Unauthorized):
        _scope(config, key[:-1] + ("A" if key[-1] != "A" else "B"))


def test_running_server_sees_keys_created_later(tmp_path: Path) -> None:
    config = StoreConfig(backend="memory", data_dir=tmp_path)

    async def run() -> None:
        store = create_store(config)
        verifier = ApiKeyVerifier(store)
        key = await asyncio.to_thread(cli_create, "clinic", None, config)
        assert await verifier.scope_for(f"Bearer {key}") == Scope("clinic")
        await store.close()

    asyncio.run(run())


@pytest.mark.redis
def test_redis_keys(redis_url: str) -> None:
    config = StoreConfig(backend="redis", redis_url=redis_url, redis_prefix="keys-test:")
    key = cli_create("clinic", "derma", config)
    assert _scope(config, key) == Scope("clinic", "derma")


def test_bad_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidField, match="'org'"):
        cli_create("bad org!", None, StoreConfig(data_dir=tmp_path))
    with pytest.raises(InvalidField, match="'department'"):
        cli_create("ok", "", StoreConfig(data_dir=tmp_path))


def test_store_backend_is_chosen_in_one_place(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="memory, redis"):
        create_store(StoreConfig(backend="etcd", data_dir=tmp_path))
    env = {
        "CONSULT_SFU_STORE": "redis", "CONSULT_SFU_REDIS_URL": "redis://127.0.0.1:1/0",
        "CONSULT_SFU_REDIS_PREFIX": "p:", "CONSULT_SFU_DATA_DIR": str(tmp_path),
    }
    config = load(None, env=env).store  # the one settings loader reads [store] like every section
    assert (config.backend, config.redis_url, config.redis_prefix, config.data_dir) == ("redis", "redis://127.0.0.1:1/0", "p:", tmp_path)
