"""Which worker takes a new room: the pure choice, ``now`` passed in."""

from __future__ import annotations

import dataclasses

from control.cluster.placement import (
    NOMINAL_STREAMS_PER_WORKER,
    choose_worker,
    eligible,
    is_live,
    load,
)
from control.cluster.records import Caps, WorkerRecord

NOW = 1_000_000.0


def worker(worker_id: str, **kwargs: object) -> WorkerRecord:
    base = WorkerRecord(
        worker_id=worker_id, node=worker_id.split("/")[0], index=0, pid=1, internal_url="http://127.0.0.1:1",
        ice_addresses=("127.0.0.1",), started_at=NOW - 100, renewed_at=NOW - 0.5, lease_s=3.0,
    )
    return dataclasses.replace(base, **kwargs)  # type: ignore[arg-type]


def test_least_loaded_live_worker_wins() -> None:
    busy, idle = worker("a/0/x", cpu=0.7), worker("b/0/x", cpu=0.1)
    assert choose_worker([busy, idle], now=NOW) == idle
    assert choose_worker([idle, busy], now=NOW) == idle


def test_streams_count_as_load_before_cpu_shows_it() -> None:
    fresh = worker("a/0/x", cpu=0.05, streams=NOMINAL_STREAMS_PER_WORKER // 2)
    other = worker("b/0/x", cpu=0.2)
    assert load(fresh) == 0.5
    assert choose_worker([fresh, other], now=NOW) == other


def test_near_ties_go_to_fewer_rooms_then_the_entrance_then_chance() -> None:
    a = worker("a/0/x", cpu=0.11, rooms=3)
    b = worker("b/0/x", cpu=0.12, rooms=1)
    assert choose_worker([a, b], now=NOW) == b
    b2 = dataclasses.replace(b, rooms=3)
    assert choose_worker([a, b2], now=NOW, entrance="b/0/x") == b2
    assert choose_worker([a, b2], now=NOW, entrance="a/0/x") == a
    assert choose_worker([a, b2], now=NOW, rand=0.0) == a
    assert choose_worker([a, b2], now=NOW, rand=0.99) == b2


def test_draining_stale_and_capped_workers_take_no_room() -> None:
    draining = worker("a/0/x", draining=True)
    stale = worker("b/0/x", renewed_at=NOW - 10)  # 3 lease periods is the limit
    full = worker("c/0/x", participants=8, caps=Caps(participants=8))
    hot = worker("d/0/x", cpu=0.95, caps=Caps(cpu=0.9))
    many = worker("e/0/x", streams=100, caps=Caps(streams=100))
    for w in (draining, stale, full, hot, many):
        assert not eligible(w, NOW), w
    assert choose_worker([draining, stale, full, hot, many], now=NOW) is None
    ok = worker("f/0/x", cpu=0.9)
    assert choose_worker([draining, stale, full, hot, many, ok], now=NOW) == ok


def test_liveness_tolerates_a_few_seconds_of_clock_skew() -> None:
    assert is_live(worker("a/0/x", renewed_at=NOW - 8.9), NOW)
    assert not is_live(worker("a/0/x", renewed_at=NOW - 9.1), NOW)
    assert is_live(worker("a/0/x", renewed_at=NOW + 2), NOW)  # a clock ahead of ours
    assert not is_live(None, NOW)


def test_record_round_trip_and_unknown_fields() -> None:
    import msgpack

    w = worker("a/0/x", cpu=0.25, streams=7, rooms=2, participants=4, draining=True, caps=Caps(10, 20, 0.8))
    assert WorkerRecord.from_bytes(w.to_bytes()) == w
    data = msgpack.unpackb(w.to_bytes(), raw=False)
    data["from_a_newer_version"] = 1
    assert WorkerRecord.from_bytes(msgpack.packb(data)) == w
