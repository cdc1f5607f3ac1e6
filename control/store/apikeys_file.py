"""API key hashes kept in ``<data_dir>/apikeys.json``: what survives a restart of the embedded default.

Used by the memory store (one process) and by the Redis store of a node that runs its own
private, unpersisted redis-server (``serve --workers N`` with no Redis configured): API keys
must outlive the node in both, so they live on disk, not in that Redis. The file holds
hashes only (mode 0600) and is re-read when it changes: the ``consult-sfu apikey create``
CLI writes it while servers run, and every worker of a node reads the same file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from control.domain.model import ApiKeyRecord, apikey_from_dict, to_dict
from control.store.base import StoreError

APIKEYS_FILE = "apikeys.json"


class ApiKeyFile:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / APIKEYS_FILE
        self._keys: dict[str, ApiKeyRecord] = {}
        self._mtime: float | None = None

    def _reload(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return
        if mtime == self._mtime:
            return
        try:
            records = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read API keys from {self.path}: {exc}") from None
        self._keys = {r["key_id"]: apikey_from_dict(r) for r in records}
        self._mtime = mtime

    def put(self, record: ApiKeyRecord) -> None:
        self._reload()
        if record.key_id in self._keys:
            raise StoreError(f"API key id {record.key_id} already exists")
        self._keys[record.key_id] = record
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump([to_dict(r) for r in self._keys.values()], f, indent=1)
        os.replace(tmp, self.path)
        self._mtime = self.path.stat().st_mtime

    def get(self, key_id: str) -> ApiKeyRecord | None:
        record = self._keys.get(key_id)
        if record is None:
            self._reload()
            record = self._keys.get(key_id)
        return record
