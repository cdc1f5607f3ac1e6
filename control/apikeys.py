"""API keys per organisation (optionally per department), sent as ``Authorization: Bearer``.

A key looks like ``csk_<key id>_<secret>``. Only ``sha256(secret)`` is stored (with the
organisation, the department scope and the creation time); the key itself is printed
once by ``consult-sfu apikey create --org ORG [--department D]`` and never again.
sha256 rather than a slow KDF: the secret is 256 random bits, so there is nothing to
brute-force, and a per-request hash must stay cheap (see benchmarks/control_bench.py).

Where hashes live: with the in-memory store, in ``<data_dir>/apikeys.json`` (mode 0600)
so keys survive a restart; with the Redis store, in Redis (``<prefix>apikey:<id>``).

Administration (``consult-sfu apikey list|revoke|rotate``, and ``/v1/apikeys`` for an
organisation-wide key): a listing shows ids, organisation, department and creation time,
never a key or its hash. Revoking deletes the record; every request looks its key up in the
store (no in-process cache), so a revoked key is refused from the next request on, in every
process. Rotating creates a key with the same organisation and department and revokes the
old one in the same step; to rotate without a gap, ``create`` a second key, deploy it, then
``revoke`` the first.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from control.domain.errors import InvalidField, NotFound, Unauthorized
from control.domain.model import ApiKeyRecord
from control.domain.scope import Scope
from control.store import Store, StoreConfig, create_store

T = TypeVar("T")

KEY_PREFIX = "csk_"
_KEY_RE = re.compile(r"^csk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(field: str, value: str) -> str:
    if not NAME_RE.match(value):
        raise InvalidField(field, "must be 1-64 characters: letters, digits, '_', '.', ':' or '-'")
    return value


async def create_key(store: Store, org: str, department: str | None, now: float | None = None) -> str:
    """Create a key, store its hash and return the key (the only time it is visible)."""
    check_name("org", org)
    if department is not None:
        check_name("department", department)
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    record = ApiKeyRecord(
        key_id=key_id,
        org=org,
        department=department,
        hash=_hash(secret),
        created_at=time.time() if now is None else now,
    )
    await store.put_api_key(record)
    return f"{KEY_PREFIX}{key_id}_{secret}"


class ApiKeyVerifier:
    """Bearer header -> Scope, looked up in the store at every request (revocation is immediate)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def scope_for(self, authorization: str | None) -> Scope:
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthorized()
        key = authorization[len("Bearer ") :].strip()
        match = _KEY_RE.match(key)
        if match is None:
            raise Unauthorized()
        key_id, secret = match.groups()
        record = await self._store.get_api_key(key_id)
        if record is None or not hmac.compare_digest(record.hash, _hash(secret)):
            raise Unauthorized()
        return Scope(record.org, record.department)


def key_view(record: ApiKeyRecord) -> dict[str, object]:
    """What a listing shows of a key: never the key or its hash."""
    return {"key_id": record.key_id, "org": record.org, "department": record.department, "created_at": record.created_at}


async def list_keys(store: Store, org: str | None = None) -> list[ApiKeyRecord]:
    return [r for r in await store.list_api_keys() if org is None or r.org == org]


async def revoke_key(store: Store, key_id: str, org: str | None = None) -> ApiKeyRecord:
    """Delete the key (of ``org`` when given); NotFound when there is none."""
    record = await store.get_api_key(key_id)
    if record is None or (org is not None and record.org != org) or not await store.delete_api_key(key_id):
        raise NotFound("API key")
    return record


async def rotate_key(store: Store, key_id: str, org: str | None = None, now: float | None = None) -> tuple[str, ApiKeyRecord]:
    """A new key with the old one's organisation and department; the old one is revoked."""
    old = await store.get_api_key(key_id)
    if old is None or (org is not None and old.org != org):
        raise NotFound("API key")
    key = await create_key(store, old.org, old.department, now)
    await revoke_key(store, key_id, org)
    return key, old


def parse_key_id(key: str) -> str:
    """The id part of a full key (``csk_<id>_<secret>``), or the id itself."""
    match = _KEY_RE.match(key)
    return match.group(1) if match else key


def cli_create(org: str, department: str | None, config: StoreConfig) -> str:
    """``consult-sfu apikey create --org ORG [--department D]``: returns the key to print once."""
    return cli_run(config, lambda store: create_key(store, org, department))


def cli_run(config: StoreConfig, action: Callable[[Store], Awaitable[T]]) -> T:
    """Run one administration action against the configured store, then close it."""

    async def run() -> T:
        store = create_store(config)
        try:
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(run())
