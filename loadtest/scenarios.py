"""Who joins which room, who publishes and who subscribes to whom: pure planning.

- ``consults``: N rooms of two (practitioner and patient); both publish, each receives the other.
- ``group``: R rooms of M; everyone publishes and receives every other publisher of the room.
- ``broadcast``: one room, one publisher, S receive-only subscribers.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadtest.config import RunConfig


@dataclass(frozen=True)
class PeerPlan:
    room: str
    identity: str
    publishes: bool
    receives_from: tuple[str, ...]  # identities of the publishers it subscribes to


def plan(cfg: RunConfig, *, first_subscriber: int = 0, subscribers: int | None = None) -> list[PeerPlan]:
    """The peers of a run, in join order.

    For ramp steps, a slice: broadcast subscribers ``first_subscriber`` .. + ``subscribers``
    (the publisher with the first slice), or consults ``first_subscriber`` .. + ``subscribers``
    (whole consultations).
    """
    if cfg.scenario == "consults":
        peers = []
        count = cfg.consults if subscribers is None else subscribers
        for i in range(first_subscriber, first_subscriber + count):
            a, b = f"c{i}-a", f"c{i}-b"
            peers += [PeerPlan(f"c{i}", a, True, (b,)), PeerPlan(f"c{i}", b, True, (a,))]
        return peers
    if cfg.scenario == "group":
        peers = []
        for r in range(cfg.rooms):
            names = [f"g{r}-{i}" for i in range(cfg.room_size)]
            peers += [PeerPlan(f"g{r}", n, True, tuple(o for o in names if o != n)) for n in names]
        return peers
    count = cfg.subscribers if subscribers is None else subscribers
    peers = [PeerPlan("b0", "b0-pub", True, ())] if first_subscriber == 0 else []
    peers += [
        PeerPlan("b0", f"b0-sub{i}", False, ("b0-pub",))
        for i in range(first_subscriber, first_subscriber + count)
    ]
    return peers


def publishers_per_room(peers: list[PeerPlan]) -> dict[str, int]:
    rooms: dict[str, int] = {}
    for p in peers:
        rooms[p.room] = rooms.get(p.room, 0) + int(p.publishes)
    return rooms
