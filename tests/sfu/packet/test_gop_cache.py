from dataclasses import dataclass

import pytest

from sfu.packet.gop_cache import GopCache, GopCacheError


@dataclass(frozen=True)
class Pkt:
    seq: int


def feed(cache: GopCache[Pkt], seqs: list[int], now: float, keyframe_at: int | None = None) -> None:
    for seq in seqs:
        cache.on_packet(Pkt(seq), seq == keyframe_at, now)


def test_nothing_before_the_first_keyframe():
    cache: GopCache[Pkt] = GopCache()
    feed(cache, [1, 2, 3], 0.0)
    assert cache.replay(0.0) is None


def test_replays_from_the_last_keyframe_in_order():
    cache: GopCache[Pkt] = GopCache()
    feed(cache, [1, 2, 3], 0.0, keyframe_at=1)
    feed(cache, [4, 6, 5, 7], 0.1, keyframe_at=4)  # a new keyframe; 5 and 6 reordered
    replay = cache.replay(0.2)
    assert replay is not None and [p.seq for p in replay] == [4, 5, 6, 7]
    assert cache.replays == 1


def test_too_old_is_not_replayed():
    cache: GopCache[Pkt] = GopCache(max_age=0.5)
    feed(cache, [10, 11], 1.0, keyframe_at=10)
    assert cache.replay(1.5) is not None
    assert cache.replay(1.51) is None


def test_a_gop_too_old_to_replay_is_no_longer_collected():
    cache: GopCache[Pkt] = GopCache(max_age=0.5)
    feed(cache, [10, 11], 1.0, keyframe_at=10)
    assert cache.wants(False, 1.5)
    assert not cache.wants(False, 1.51)  # the packet path builds nothing more for it
    feed(cache, [12], 1.52)
    assert cache.replay(1.52) is None
    assert cache.wants(True, 1.6)  # the next keyframe starts a new one
    feed(cache, [20, 21], 1.6, keyframe_at=20)
    replay = cache.replay(1.7)
    assert replay is not None and [p.seq for p in replay] == [20, 21]


def test_a_gap_is_not_replayed_until_repaired_and_duplicates_are_dropped():
    cache: GopCache[Pkt] = GopCache()
    feed(cache, [65534, 65535, 1], 0.0, keyframe_at=65534)  # 0 missing, across the wrap
    assert cache.replay(0.0) is None
    feed(cache, [0, 0], 0.01)  # the retransmission arrives (twice)
    replay = cache.replay(0.02)
    assert replay is not None and [p.seq for p in replay] == [65534, 65535, 0, 1]


def test_late_packets_of_the_previous_gop_are_ignored():
    cache: GopCache[Pkt] = GopCache()
    feed(cache, [100, 101], 0.0, keyframe_at=100)
    feed(cache, [99], 0.01)
    replay = cache.replay(0.02)
    assert replay is not None and [p.seq for p in replay] == [100, 101]


def test_overflow_stops_collecting_until_the_next_keyframe():
    cache: GopCache[Pkt] = GopCache(max_packets=3)
    feed(cache, [1, 2, 3, 4], 0.0, keyframe_at=1)
    assert cache.replay(0.0) is None
    feed(cache, [5], 0.0)
    assert cache.replay(0.0) is None
    feed(cache, [6, 7], 0.0, keyframe_at=6)
    replay = cache.replay(0.0)
    assert replay is not None and [p.seq for p in replay] == [6, 7]


@pytest.mark.parametrize("kwargs", [{"max_age": 0}, {"max_packets": 0}])
def test_bad_arguments(kwargs):
    with pytest.raises(GopCacheError):
        GopCache(**kwargs)
