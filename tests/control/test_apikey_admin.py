"""API key administration: ``consult-sfu apikey list|revoke|rotate`` and /v1/apikeys.

A real server (the application in-process, its memory store keeping key hashes in the data
folder, or a real redis-server) and the real ``consult-sfu`` executable writing the same
store: a key revoked by either is refused at the very next request.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.server import RunningServer, running_server

BINARY = Path(sys.executable).parent / "consult-sfu"


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("CONSULT_SFU_")}
    full.update(env)
    return subprocess.run([str(BINARY), "apikey", *args], env=full, capture_output=True, text=True, timeout=60, check=False)


async def acli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(cli, env, *args)


async def status_of(server: RunningServer, key: str, method: str = "GET", path: str = "/v1/rooms", body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http, http.request(method, server.http_url + path, json=body) as resp:
        data = await resp.json() if resp.status != 204 else None
        return resp.status, data


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Settings of the server and of the CLI: the same store."""
    if request.param == "memory":
        return {"CONSULT_SFU_DATA_DIR": str(tmp_path)}
    redis_url: str = request.getfixturevalue("redis_url")
    return {"CONSULT_SFU_DATA_DIR": str(tmp_path), "CONSULT_SFU_STORE": "redis", "CONSULT_SFU_REDIS_URL": redis_url,
            "CONSULT_SFU_REDIS_PREFIX": f"keys-{uuid.uuid4().hex[:8]}:"}


def overrides(settings: dict[str, str]) -> dict[str, str]:
    names = {"CONSULT_SFU_STORE": "store__backend", "CONSULT_SFU_REDIS_URL": "store__redis_url", "CONSULT_SFU_REDIS_PREFIX": "store__redis_prefix"}
    return {names[k]: v for k, v in settings.items() if k in names}


async def test_cli_list_revoke_and_rotate_take_effect_at_the_next_request(tmp_path: Path, store_settings: dict[str, str]) -> None:
    async with running_server(tmp_path, **overrides(store_settings)) as server:
        created = await acli(store_settings, "create", "--org", "clinic")
        assert created.returncode == 0, created.stderr
        key = created.stdout.strip()
        other = (await acli(store_settings, "create", "--org", "clinic", "--department", "cardio")).stdout.strip()
        key_id, other_id = key.split("_")[1], other.split("_")[1]

        listed = await acli(store_settings, "list", "--json")
        rows = json.loads(listed.stdout)
        assert {(r["key_id"], r["org"], r["department"]) for r in rows} == {(key_id, "clinic", None), (other_id, "clinic", "cardio")}
        assert key.split("_", 2)[2] not in listed.stdout  # never the secret
        table = (await acli(store_settings, "list", "--org", "clinic")).stdout
        assert key_id in table and other_id in table and "cardio" in table

        assert (await status_of(server, key))[0] == 200  # the server verified it (and would have cached it before)
        revoked = await acli(store_settings, "revoke", key_id)
        assert revoked.returncode == 0 and f"revoked API key {key_id}" in revoked.stderr, revoked.stderr
        assert (await status_of(server, key))[0] == 401  # the very next request

        rotated = await acli(store_settings, "rotate", other)  # the key itself is accepted too
        assert rotated.returncode == 0, rotated.stderr
        new = rotated.stdout.strip()
        assert (await status_of(server, other))[0] == 401
        status, body = await status_of(server, new)
        assert status == 200, body
        assert [r["department"] for r in json.loads((await acli(store_settings, "list", "--json")).stdout)] == ["cardio"]

        missing = await acli(store_settings, "revoke", key_id)  # already gone
        assert missing.returncode == 1 and missing.stderr.strip() == "consult-sfu apikey revoke: API key not found"


async def test_rest_api_for_an_organisation_key(tmp_path: Path, store_settings: dict[str, str]) -> None:
    async with running_server(tmp_path, **overrides(store_settings)) as server:
        admin = (await acli(store_settings, "create", "--org", "clinic")).stdout.strip()
        stranger = (await acli(store_settings, "create", "--org", "other")).stdout.strip()

        status, made = await status_of(server, admin, "POST", "/v1/apikeys", {"department": "derma"})
        assert status == 201 and made["department"] == "derma" and made["org"] == "clinic", made
        dept_key = made["key"]
        assert (await status_of(server, dept_key))[0] == 200

        status, listing = await status_of(server, admin, "GET", "/v1/apikeys")
        assert status == 200 and {k["key_id"] for k in listing["keys"]} == {admin.split("_")[1], made["key_id"]}
        assert all("key" not in k and "hash" not in k for k in listing["keys"])
        assert (await status_of(server, dept_key, "GET", "/v1/apikeys"))[0] == 403  # department keys do not manage keys
        assert (await status_of(server, stranger, "DELETE", f"/v1/apikeys/{made['key_id']}"))[0] == 404  # another organisation's
        assert (await status_of(server, admin, "POST", "/v1/apikeys", {"department": "bad dept!"}))[0] == 422
        assert (await status_of(server, admin, "POST", "/v1/apikeys"))[0] == 400  # the body is required ({} at least)

        status, rotated = await status_of(server, admin, "POST", f"/v1/apikeys/{made['key_id']}/rotate")
        assert status == 201 and rotated["department"] == "derma" and rotated["key_id"] != made["key_id"]
        assert (await status_of(server, dept_key))[0] == 401
        assert (await status_of(server, rotated["key"]))[0] == 200

        assert (await status_of(server, admin, "DELETE", f"/v1/apikeys/{rotated['key_id']}"))[0] == 204
        assert (await status_of(server, rotated["key"]))[0] == 401  # revoked: the next request
        assert (await status_of(server, admin, "DELETE", f"/v1/apikeys/{rotated['key_id']}"))[0] == 404
