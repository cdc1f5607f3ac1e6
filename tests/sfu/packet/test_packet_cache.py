import pytest
from hypothesis import given
from hypothesis import strategies as st

from sfu.packet.packet_cache import PacketCache, PacketCacheError


def test_store_and_get():
    cache = PacketCache()
    cache.store(10, b"ten", 0.0)
    assert cache.get_for_nack(10, 0.001) == b"ten"
    assert cache.get_for_nack(11, 0.001) is None
    assert cache.misses == 1
    assert cache.resent == 1


def test_resend_rate_limited_per_seq():
    cache = PacketCache(min_resend_interval=0.015)
    cache.store(1, b"a", 0.0)
    cache.store(2, b"b", 0.0)
    assert cache.get_for_nack(1, 0.100) == b"a"
    assert cache.get_for_nack(1, 0.114) is None  # 14 ms later: too soon
    assert cache.get_for_nack(2, 0.114) == b"b"  # other seq unaffected
    assert cache.get_for_nack(1, 0.115) == b"a"  # exactly the interval: allowed
    assert cache.suppressed == 1


def test_max_age():
    cache = PacketCache(max_age=1.0)
    cache.store(5, b"x", 10.0)
    assert cache.get_for_nack(5, 11.0) == b"x"  # exactly max_age: still fine
    assert cache.get_for_nack(5, 11.0001 + 0.015) is None
    assert cache.expired == 1


def test_wrap_65535_to_0():
    cache = PacketCache(capacity=512)
    for i, seq in enumerate([65534, 65535, 0, 1]):
        cache.store(seq, bytes([i]), 0.0)
    assert cache.get_for_nack(65535, 0.0) == b"\x01"
    assert cache.get_for_nack(0, 0.0) == b"\x02"
    assert cache.get_for_nack(65534, 0.0) == b"\x00"


def test_overwritten_slot_does_not_return_wrong_packet():
    cache = PacketCache(capacity=4)
    for seq in range(10):
        cache.store(seq, bytes([seq]), 0.0)
    assert cache.get_for_nack(5, 0.0) is None  # slot reused by 9
    assert cache.get_for_nack(9, 0.0) == b"\x09"
    assert cache.get_for_nack(6, 0.0) == b"\x06"


def test_restore_resets_rate_limit():
    cache = PacketCache()
    cache.store(1, b"a", 0.0)
    assert cache.get_for_nack(1, 0.0) == b"a"
    cache.store(1, b"A", 0.001)  # 65536 packets later, same seq, new packet
    assert cache.get_for_nack(1, 0.002) == b"A"


def test_clear():
    cache = PacketCache()
    cache.store(1, b"a", 0.0)
    cache.clear()
    assert cache.get_for_nack(1, 0.0) is None
    assert cache.stats()["misses"] == 1


@pytest.mark.parametrize(
    "kwargs",
    [{"capacity": 0}, {"capacity": 70000}, {"min_resend_interval": -1}, {"max_age": 0}],
)
def test_bad_arguments(kwargs):
    with pytest.raises(PacketCacheError):
        PacketCache(**kwargs)


@given(start=st.integers(0, 0xFFFF), count=st.integers(1, 1500))
def test_property_last_capacity_packets_retrievable_across_wrap(start, count):
    cache = PacketCache(capacity=512)
    seqs = [(start + i) & 0xFFFF for i in range(count)]
    for seq in seqs:
        cache.store(seq, seq.to_bytes(2, "big"), 0.0)
    for seq in seqs[-512:]:
        assert cache.get_for_nack(seq, 0.5) == seq.to_bytes(2, "big")
    for seq in seqs[:-512]:
        assert cache.get_for_nack(seq, 0.5) is None


def test_newest_packets_come_newest_first_across_the_wrap_and_skip_overwritten_slots() -> None:
    cache = PacketCache(4)
    assert cache.newest(3) == []
    for seq in (65534, 65535, 0, 1):
        cache.store(seq, bytes([seq & 0xFF]), 0.0)
    assert cache.newest(3) == [b"\x01", b"\x00", b"\xff"]
    assert cache.newest(10) == [b"\x01", b"\x00", b"\xff", b"\xfe"]  # at most the capacity
    cache.store(5, b"\x05", 0.0)  # a jump: slot 1 now holds 5, the others are older than 2
    assert cache.newest(4) == [b"\x05"]
    cache.clear()
    assert cache.newest(4) == []
