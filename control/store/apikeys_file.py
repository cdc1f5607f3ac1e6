"""API key hashes kept in ``<data_dir>/apikeys.json``: what survives a restart of the embedded default.

Used by the memory store (one process) and by the Redis store of a node that runs its own
private, unpersisted redis-server (``serve --workers N`` with no Redis configured): API keys
must outlive the node in both, so they live on disk, not in that Redis. The file holds
hashes only (mode 0600) and is re-read when it changes (its mtime, checked at every lookup):
the ``consult-sfu apikey create|revoke|rotate`` CLI writes it while servers run, and every
worker of a node reads the same file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from control.domain.model import ApiKeyRecord, apikey_from_dict, to_dict
from control.store.base import StoreError

APIKEYS_FILE = "apikeys.json"


class ApiKeyFile:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / APIKEYS_FILE
        self._keys: dict[str, ApiKeyRecord] = {}
        self._version: tuple[int, int, int] | None = None  # (inode, mtime ns, size): every write replaces the file

    def _reload(self) -> None:
        try:
            version = _version(self.path.stat())
        except FileNotFoundError:
            return
        if version == self._version:
            return
        try:
            records = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read API keys from {self.path}: {exc}") from None
        self._keys = {r["key_id"]: apikey_from_dict(r) for r in records}
        self._version = version

    def put(self, record: ApiKeyRecord) -> None:
        with self._locked():
            self._reload()
            if record.key_id in self._keys:
                raise StoreError(f"API key id {record.key_id} already exists")
            self._keys[record.key_id] = record
            self._write()

    def delete(self, key_id: str) -> bool:
        with self._locked():
            self._reload()
            if self._keys.pop(key_id, None) is None:
                return False
            self._write()
            return True

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Read-modify-write under an exclusive lock: the CLI and servers' workers write the same file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def list(self) -> list[ApiKeyRecord]:
        self._reload()
        return sorted(self._keys.values(), key=lambda record: record.key_id)

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump([to_dict(r) for r in self._keys.values()], f, indent=1)
        os.replace(tmp, self.path)
        self._version = _version(self.path.stat())

    def get(self, key_id: str) -> ApiKeyRecord | None:
        # a stat per request: a key revoked by another process (the CLI) is refused at once
        self._reload()
        return self._keys.get(key_id)


def _version(stat: os.stat_result) -> tuple[int, int, int]:
    return stat.st_ino, stat.st_mtime_ns, stat.st_size
