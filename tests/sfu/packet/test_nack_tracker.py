import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfu.packet.nack_tracker import NackTracker, NackTrackerError


def test_no_loss_nothing_due():
    tracker = NackTracker()
    for seq in range(100):
        assert tracker.on_packet(seq, seq * 0.01) is False
    assert tracker.due(1.0) == []
    assert tracker.missing_count == 0
    assert tracker.next_due_time() is None


def test_gap_nacked_immediately_then_retried():
    tracker = NackTracker(retry_interval=0.03, max_retries=3)
    assert tracker.on_packet(10, 0.0) is False
    assert tracker.on_packet(13, 0.001) is True  # work for the shell: NACKs due
    assert tracker.on_packet(14, 0.001) is True  # still missing
    assert tracker.missing_count == 2
    assert tracker.due(0.001) == [11, 12]
    assert tracker.due(0.002) == []  # too early for a retry
    assert tracker.next_due_time() == pytest.approx(0.031)
    assert tracker.due(0.031) == [11, 12]
    assert tracker.due(0.061) == [11, 12]
    assert tracker.due(0.091) == []  # max_retries reached
    assert tracker.due(0.2) == []
    assert tracker.nacks_sent == 6


def test_late_or_retransmitted_packet_recovered():
    tracker = NackTracker()
    tracker.on_packet(1, 0.0)
    tracker.on_packet(4, 0.0)
    assert tracker.due(0.0) == [2, 3]
    assert tracker.on_packet(3, 0.02) is True  # 2 is still missing
    assert tracker.recovered == 1
    assert tracker.due(0.05) == [2]
    tracker.on_packet(3, 0.06)  # duplicate of a recovered packet: no double count
    assert tracker.recovered == 1
    assert tracker.on_packet(2, 0.07) is False  # nothing missing any more


def test_expiry_counts_lost():
    tracker = NackTracker(max_age=0.5)
    tracker.on_packet(0, 0.0)
    tracker.on_packet(2, 0.0)
    tracker.due(0.0)
    assert tracker.due(0.5) == []
    assert tracker.lost == 1
    assert tracker.missing_count == 0
    tracker.on_packet(1, 0.6)  # after it was forgotten: not counted as recovered
    assert tracker.recovered == 0


def test_gap_across_wrap():
    tracker = NackTracker()
    tracker.on_packet(65533, 0.0)
    tracker.on_packet(1, 0.0)
    assert tracker.due(0.0) == [65534, 65535, 0]


def test_reordering_without_loss_clears_before_nack_if_caller_waits():
    tracker = NackTracker()
    tracker.on_packet(1, 0.0)
    tracker.on_packet(3, 0.0)
    tracker.on_packet(2, 0.0)
    assert tracker.due(0.0) == []
    assert tracker.recovered == 1


def test_overflow_requests_keyframe_once_and_forgets():
    tracker = NackTracker(max_missing=256)
    tracker.on_packet(0, 0.0)
    tracker.on_packet(100, 0.0)  # 99 missing
    # +199 = 298 > 256: nothing left to NACK, but work for the shell (a keyframe request)
    assert tracker.on_packet(300, 0.0) is True
    assert tracker.needs_keyframe is True
    assert tracker.needs_keyframe is False  # reported once
    assert tracker.missing_count == 0
    assert tracker.lost == 298
    assert tracker.due(0.0) == []
    tracker.on_packet(302, 0.01)  # tracking continues from the new position
    assert tracker.due(0.01) == [301]


def test_exactly_max_missing_is_kept():
    tracker = NackTracker(max_missing=10)
    tracker.on_packet(0, 0.0)
    tracker.on_packet(11, 0.0)
    assert tracker.missing_count == 10
    assert not tracker.needs_keyframe


def test_retries_after_the_retry_interval():
    tracker = NackTracker(retry_interval=0.02)
    assert tracker.retry_interval == 0.02
    tracker.on_packet(0, 0.0)
    tracker.on_packet(2, 0.0)
    assert tracker.due(0.0) == [1]
    assert tracker.due(0.019) == []
    assert tracker.due(0.02) == [1]


def test_sequence_restart_far_behind_resyncs():
    tracker = NackTracker()
    tracker.on_packet(40000, 0.0)
    tracker.on_packet(40002, 0.0)
    tracker.on_packet(100, 0.1)  # publisher restarted numbering
    assert tracker.missing_count == 0
    tracker.on_packet(102, 0.1)
    assert tracker.due(0.1) == [101]


def test_next_due_time_includes_expiry():
    tracker = NackTracker(max_retries=1, max_age=0.5)
    tracker.on_packet(0, 1.0)
    tracker.on_packet(2, 1.0)
    assert tracker.next_due_time() == 1.0
    tracker.due(1.0)
    assert tracker.next_due_time() == 1.5


def test_reset():
    tracker = NackTracker()
    tracker.on_packet(0, 0.0)
    tracker.on_packet(5, 0.0)
    tracker.reset()
    tracker.on_packet(1000, 0.0)
    assert tracker.due(0.0) == []
    assert tracker.stats()["missing"] == 0


@pytest.mark.parametrize(
    "kwargs",
    [{"retry_interval": 0}, {"max_retries": 0}, {"max_age": 0}, {"max_missing": 0}],
)
def test_bad_arguments(kwargs):
    with pytest.raises(NackTrackerError):
        NackTracker(**kwargs)


@settings(max_examples=150, deadline=None)
@given(
    start=st.integers(0, 0xFFFF),
    dropped=st.sets(st.integers(1, 198), max_size=40),
    recovered_later=st.data(),
)
def test_property_exactly_the_dropped_packets_are_nacked(start, dropped, recovered_later):
    """Over any wrap position: the NACKed set is the dropped set, and every dropped packet
    ends up either recovered or lost."""
    tracker = NackTracker(max_missing=256)
    for i in range(200):
        if i not in dropped:
            tracker.on_packet((start + i) & 0xFFFF, 0.0)
    assert set(tracker.due(0.0)) == {(start + i) & 0xFFFF for i in dropped}
    back = recovered_later.draw(st.sets(st.sampled_from(sorted(dropped)))) if dropped else set()
    for i in back:
        tracker.on_packet((start + i) & 0xFFFF, 0.1)
    tracker.due(1.0)
    assert tracker.recovered == len(back)
    assert tracker.lost == len(dropped) - len(back)
    assert tracker.missing_count == 0
