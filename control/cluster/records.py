"""What the cluster registry keeps in the store, and under which keys.

Keys (under the store's prefix; the ``{w}`` hash tag keeps every lease and the workers'
index in one Redis Cluster slot, so one MGET reads them all)::

    worker:{w}:<worker id>   a worker's record, with a time to live: its lease
    idx:{w}:workers          set of worker ids that registered (dead ones pruned on sight)
    placement:<room>         the id of the worker that owns the room; no time to live:
                             the room's lease is its owner's lease (LiveKit's model)

A worker id is ``<node>/<index>/<incarnation>``: the node's name, the worker's index in it
and a random tag per process start, so a restarted worker never inherits a placement made
for the process it replaced.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

import msgpack

WORKERS_INDEX = "idx:{w}:workers"


def worker_key(worker_id: str) -> str:
    return f"worker:{{w}}:{worker_id}"


def placement_key(room: str) -> str:
    return f"placement:{room}"


def new_worker_id(node: str, index: int) -> str:
    return f"{node}/{index}/{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Caps:
    """Per-worker placement caps; 0 means no cap."""

    participants: int = 0
    streams: int = 0
    cpu: float = 0.0


@dataclass(frozen=True)
class WorkerRecord:
    worker_id: str
    node: str
    index: int
    pid: int
    #: base URL of the worker's internal endpoint (entrances forward WebSockets there)
    internal_url: str
    #: addresses its ICE host candidates announce (where media goes)
    ice_addresses: tuple[str, ...]
    started_at: float
    renewed_at: float
    lease_s: float
    #: the lease is renewed this often: a lease not renewed for 1.5 periods missed a renewal
    heartbeat_s: float = 1.0
    #: share of one core used over the last heartbeat period (1.0 = one core busy)
    cpu: float = 0.0
    #: forwarded streams (subscriber legs)
    streams: int = 0
    rooms: int = 0
    participants: int = 0
    draining: bool = False
    caps: Caps = field(default_factory=Caps)

    def to_bytes(self) -> bytes:
        data = asdict(self)
        data["ice_addresses"] = list(self.ice_addresses)
        packed: bytes = msgpack.packb(data, use_bin_type=True)
        return packed

    @classmethod
    def from_bytes(cls, raw: bytes) -> WorkerRecord:
        data: dict[str, Any] = msgpack.unpackb(raw, raw=False)
        caps = Caps(**data.pop("caps", {}))
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}  # a newer worker's extra fields
        values["ice_addresses"] = tuple(values.get("ice_addresses", ()))
        return cls(caps=caps, **values)

    def age(self, now: float) -> float:
        return max(0.0, now - self.renewed_at)
