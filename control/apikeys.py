"""API keys per organisation (optionally per department), sent as ``Authorization: Bearer``.

A key looks like ``csk_<key id>_<secret>``. Only ``sha256(secret)`` is stored (with the
organisation, the department scope and the creation time); the key itself is printed
once by ``consult-sfu apikey create --org ORG [--department D]`` and never again.
sha256 rather than a slow KDF: the secret is 256 random bits, so there is nothing to
brute-force, and a per-request hash must stay cheap (see benchmarks/control_bench.py).

Where hashes live: with the in-memory store, in ``<data_dir>/apikeys.json`` (mode 0600)
so keys survive a restart; with the Redis store, in Redis (``<prefix>apikey:<id>``).
Verified keys are cached in-process for a short time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable

from control.domain.errors import InvalidField, Unauthorized
from control.domain.model import ApiKeyRecord
from control.domain.scope import Scope
from control.store import Store, StoreConfig, create_store

KEY_PREFIX = "csk_"
_KEY_RE = re.compile(r"^csk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
CACHE_TTL_S = 30.0
CACHE_MAX = 10_000


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
    """Bearer header -> Scope, with a small time-bounded cache of verified keys."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._cache: dict[str, tuple[Scope, float]] = {}

    async def scope_for(self, authorization: str | None) -> Scope:
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthorized()
        key = authorization[len("Bearer ") :].strip()
        now = self._clock()
        digest = _hash(key)
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        match = _KEY_RE.match(key)
        if match is None:
            raise Unauthorized()
        key_id, secret = match.groups()
        record = await self._store.get_api_key(key_id)
        if record is None or not hmac.compare_digest(record.hash, _hash(secret)):
            raise Unauthorized()
        scope = Scope(record.org, record.department)
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (scope, now + CACHE_TTL_S)
        return scope


def cli_create(org: str, department: str | None, config: StoreConfig) -> str:
    """``consult-sfu apikey create --org ORG [--department D]``: returns the key to print once."""

    async def run() -> str:
        store = create_store(config)
        try:
            return await create_key(store, org, department)
        finally:
            await store.close()

    return asyncio.run(run())
