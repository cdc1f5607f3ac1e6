"""Where a new room goes: the least-loaded live worker under its caps. Pure, ``now`` passed in.

Load of a worker = the larger of its CPU share (of its ``max_cpu`` cap, or of one core) and
its forwarded streams (of its ``max_streams`` cap, or of :data:`NOMINAL_STREAMS_PER_WORKER`).
CPU is what limits a worker; streams are a leading indicator of it (a room placed a moment
ago forwards streams before its CPU shows in a one-second average).

Workers whose loads differ by less than :data:`TIE_MARGIN` are taken as equally loaded; among
them the one with the fewest rooms wins (placements in one burst then alternate, as every
worker refreshes its record as soon as it gains a room), then the entrance itself (no
forwarding hop), then ``rand`` picks (LiveKit's selectors sort the same way, by one figure).

A worker is eligible when its record is fresh (renewed within :data:`STALE_LEASES` leases:
a safety net behind the store's time to live, tolerant of clocks a few seconds apart), it
is not draining and it is under every cap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from control.cluster.records import WorkerRecord

#: Without a streams cap, a worker's stream load is counted against this many streams.
NOMINAL_STREAMS_PER_WORKER = 400
#: Loads closer than this count as equal (the CPU share is a noisy one-second average).
TIE_MARGIN = 0.05
#: A record older than this many lease periods is stale whatever the store says.
STALE_LEASES = 3.0


def is_live(record: WorkerRecord | None, now: float) -> bool:
    return record is not None and record.age(now) <= record.lease_s * STALE_LEASES


def load(record: WorkerRecord) -> float:
    cpu = record.cpu / (record.caps.cpu or 1.0)
    streams = record.streams / (record.caps.streams or NOMINAL_STREAMS_PER_WORKER)
    participants = record.participants / record.caps.participants if record.caps.participants else 0.0
    return max(cpu, streams, participants)


def under_caps(record: WorkerRecord) -> bool:
    caps = record.caps
    return not (
        (caps.participants and record.participants >= caps.participants)
        or (caps.streams and record.streams >= caps.streams)
        or (caps.cpu and record.cpu >= caps.cpu)
    )


def eligible(record: WorkerRecord, now: float) -> bool:
    return is_live(record, now) and not record.draining and under_caps(record)


def choose_worker(
    workers: Sequence[WorkerRecord], *, now: float, entrance: str | None = None, rand: float = 0.0
) -> WorkerRecord | None:
    """The worker a new room goes to, or None when no worker may take one."""
    candidates = [w for w in workers if eligible(w, now)]
    if not candidates:
        return None

    def rank(w: WorkerRecord) -> tuple[int, int, int]:
        return (math.floor(load(w) / TIE_MARGIN), w.rooms, 0 if w.worker_id == entrance else 1)

    best = min(rank(w) for w in candidates)
    tied = sorted((w for w in candidates if rank(w) == best), key=lambda w: w.worker_id)
    return tied[min(len(tied) - 1, int(rand * len(tied)))]
