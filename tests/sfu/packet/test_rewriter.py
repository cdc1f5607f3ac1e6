import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfu.packet.rewriter import LegRewriter, RewriterError
from sfu.packet.seqnum import seq_add, seq_diff, ts_add, ts_diff

PASSTHROUGH = 1
RENDITION = 2
RATE = 90000


def test_nothing_accepted_before_first_switch():
    rw = LegRewriter(RATE, initial_seq=100, initial_ts=5000)
    assert rw.source_id is None
    assert rw.rewrite(PASSTHROUGH, 1, 1, 0.0) is None
    assert rw.map_ts(PASSTHROUGH, 1) is None
    assert rw.last_out_seq == 99
    assert rw.last_out_ts == 5000


def test_first_mapping_starts_at_initial_values():
    rw = LegRewriter(RATE, initial_seq=100, initial_ts=5000)
    rw.switch(PASSTHROUGH, 0.0)
    assert rw.switch_pending
    assert rw.rewrite(PASSTHROUGH, 40000, 123456, 0.0) == (100, 5000)
    assert not rw.switch_pending
    assert rw.rewrite(PASSTHROUGH, 40001, 123456, 0.0) == (101, 5000)
    assert rw.rewrite(PASSTHROUGH, 40002, 126456, 0.033) == (102, 8000)
    assert rw.last_out_seq == 102
    assert rw.last_out_ts == 8000
    assert rw.map_ts(PASSTHROUGH, 129456) == 11000
    assert rw.map_ts(RENDITION, 129456) is None


def test_other_source_dropped():
    rw = LegRewriter(RATE, 0, 0)
    rw.switch(PASSTHROUGH, 0.0)
    rw.rewrite(PASSTHROUGH, 10, 10, 0.0)
    assert rw.rewrite(RENDITION, 11, 10, 0.0) is None


def test_switch_back_and_forth_is_continuous():
    rw = LegRewriter(RATE, initial_seq=65530, initial_ts=0xFFFFFFFF - 4000)
    rw.switch(PASSTHROUGH, 0.0)
    out = []
    now = 0.0
    for i in range(10):  # passthrough: seq 1000.., ts step 3000
        now = i * 0.033
        out.append(rw.rewrite(PASSTHROUGH, 1000 + i, 777 + 3000 * i, now))
    rw.switch(RENDITION, now)
    assert rw.rewrite(PASSTHROUGH, 1010, 777 + 30000, now + 0.01) is None  # old source now
    for i in range(10):  # rendition: its own unrelated spaces
        out.append(rw.rewrite(RENDITION, 50 + i, 0xFFFFF000 + 3000 * i, now + 0.033 * (i + 1)))
    now = now + 0.033 * 10
    rw.switch(PASSTHROUGH, now)
    for i in range(10):
        out.append(rw.rewrite(PASSTHROUGH, 1030 + i, 777 + 3000 * (30 + i), now + 0.033 * (i + 1)))
    assert None not in out
    seqs = [o[0] for o in out]
    tss = [o[1] for o in out]
    # Sequence numbers continuous across both switches and across the 16-bit wrap.
    assert seqs[0] == 65530
    for a, b in itertools.pairwise(seqs):
        assert seq_diff(b, a) == 1
    # Timestamps strictly increasing (mod 2**32), each switch gap = wall time * clock rate.
    for a, b in itertools.pairwise(tss):
        assert ts_diff(b, a) > 0
    assert ts_diff(tss[10], tss[9]) == round(0.033 * RATE)
    assert ts_diff(tss[20], tss[19]) == round(0.033 * RATE)
    assert rw.last_out_seq == seqs[-1]
    assert rw.last_out_ts == tss[-1]


def test_switch_timestamp_gap_is_at_least_one():
    rw = LegRewriter(RATE, 0, 0)
    rw.switch(PASSTHROUGH, 0.0)
    assert rw.rewrite(PASSTHROUGH, 5, 100, 1.0) == (0, 0)
    rw.switch(RENDITION, 1.0)
    assert rw.rewrite(RENDITION, 9, 999, 1.0) == (1, 1)  # same instant: still one tick later


def test_switch_gap_measured_from_newest_packet():
    rw = LegRewriter(48000, 0, 0)
    rw.switch(PASSTHROUGH, 0.0)
    rw.rewrite(PASSTHROUGH, 0, 0, 0.0)
    rw.rewrite(PASSTHROUGH, 1, 960, 0.02)
    rw.switch(RENDITION, 0.5)
    assert rw.rewrite(RENDITION, 7, 7, 1.02) == (2, 960 + 48000)


def test_reordering_maps_late_packet_to_its_earlier_seq():
    rw = LegRewriter(RATE, 10, 0)
    rw.switch(PASSTHROUGH, 0.0)
    assert rw.rewrite(PASSTHROUGH, 100, 0, 0.0) == (10, 0)
    assert rw.rewrite(PASSTHROUGH, 102, 3000, 0.0) == (12, 3000)
    assert rw.rewrite(PASSTHROUGH, 101, 0, 0.0) == (11, 0)  # late, fits in its hole
    assert rw.last_out_seq == 12
    assert rw.last_out_ts == 3000  # newest packet's ts, not the late one's
    assert rw.rewrite(PASSTHROUGH, 103, 3000, 0.0) == (13, 3000)


def test_duplicates_dropped():
    rw = LegRewriter(RATE, 0, 0)
    rw.switch(PASSTHROUGH, 0.0)
    assert rw.rewrite(PASSTHROUGH, 5, 0, 0.0) == (0, 0)
    assert rw.rewrite(PASSTHROUGH, 5, 0, 0.0) is None
    assert rw.rewrite(PASSTHROUGH, 7, 0, 0.0) == (2, 0)
    assert rw.rewrite(PASSTHROUGH, 6, 0, 0.0) == (1, 0)
    assert rw.rewrite(PASSTHROUGH, 6, 0, 0.0) is None
    assert rw.rewrite(PASSTHROUGH, 7, 0, 0.0) is None


def test_packet_before_switch_point_dropped():
    rw = LegRewriter(RATE, 0, 0)
    rw.switch(PASSTHROUGH, 0.0)
    rw.rewrite(PASSTHROUGH, 0, 0, 0.0)
    rw.rewrite(PASSTHROUGH, 1, 0, 0.0)
    rw.switch(RENDITION, 0.0)
    assert rw.rewrite(RENDITION, 500, 0, 0.0) == (2, 1)
    assert rw.rewrite(RENDITION, 499, 0, 0.0) is None  # would collide with the old mapping
    assert rw.rewrite(RENDITION, 501, 0, 0.0) == (3, 1)


def test_new_mapping_does_not_collide_after_late_forwarded_packet():
    rw = LegRewriter(RATE, 0, 0)
    rw.switch(PASSTHROUGH, 0.0)
    rw.rewrite(PASSTHROUGH, 10, 0, 0.0)
    rw.rewrite(PASSTHROUGH, 12, 0, 0.0)  # out 2
    rw.rewrite(PASSTHROUGH, 11, 0, 0.0)  # late, out 1: the last issued, not the highest
    rw.switch(RENDITION, 0.0)
    assert rw.rewrite(RENDITION, 0, 0, 0.0)[0] == 3


def test_too_late_packet_dropped():
    rw2 = LegRewriter(RATE, 0, 0, max_late=100)
    rw2.switch(PASSTHROUGH, 0.0)
    rw2.rewrite(PASSTHROUGH, 0, 0, 0.0)
    rw2.rewrite(PASSTHROUGH, 300, 0, 0.0)
    assert rw2.rewrite(PASSTHROUGH, 150, 0, 0.0) is None  # 150 behind
    assert rw2.rewrite(PASSTHROUGH, 201, 0, 0.0) == (201, 0)  # 99 behind: still fine


def test_wrap_of_incoming_seq_and_ts():
    rw = LegRewriter(RATE, 1000, 1000)
    rw.switch(PASSTHROUGH, 0.0)
    assert rw.rewrite(PASSTHROUGH, 65534, 0xFFFFFFFF - 1000, 0.0) == (1000, 1000)
    assert rw.rewrite(PASSTHROUGH, 65535, 0xFFFFFFFF - 1000, 0.0) == (1001, 1000)
    assert rw.rewrite(PASSTHROUGH, 0, 1999, 0.033) == (1002, 4000)
    assert rw.rewrite(PASSTHROUGH, 1, 1999, 0.033) == (1003, 4000)


def test_switch_to_same_source_restarts_mapping():
    rw = LegRewriter(RATE, 0, 0)
    rw.switch(PASSTHROUGH, 0.0)
    rw.rewrite(PASSTHROUGH, 10, 0, 0.0)
    rw.switch(PASSTHROUGH, 0.1)  # e.g. the publisher's stream restarted with new numbering
    assert rw.rewrite(PASSTHROUGH, 60000, 5, 0.1) == (1, 9000)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"clock_rate": 0, "initial_seq": 0, "initial_ts": 0},
        {"clock_rate": 90000, "initial_seq": 65536, "initial_ts": 0},
        {"clock_rate": 90000, "initial_seq": 0, "initial_ts": -1},
        {"clock_rate": 90000, "initial_seq": 0, "initial_ts": 0, "max_late": 0},
    ],
)
def test_bad_arguments_rejected(kwargs):
    with pytest.raises(RewriterError):
        LegRewriter(**kwargs)


@settings(max_examples=200, deadline=None)
@given(
    initial_seq=st.integers(0, 0xFFFF),
    initial_ts=st.integers(0, 0xFFFFFFFF),
    starts=st.lists(
        st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF), st.integers(1, 80)),
        min_size=1,
        max_size=6,
    ),
)
def test_property_continuous_over_any_switches_and_wraps(initial_seq, initial_ts, starts):
    """Whatever each source's starting numbers and however many switches, the leg's sequence
    numbers step by exactly one and its timestamps never go back."""
    rw = LegRewriter(RATE, initial_seq, initial_ts)
    now = 0.0
    expected_seq = initial_seq
    prev_ts = None
    for source, (seq0, ts0, count) in enumerate(starts):
        rw.switch(source, now)
        for i in range(count):
            now += 0.01
            res = rw.rewrite(source, seq_add(seq0, i), ts_add(ts0, 900 * i), now)
            assert res is not None
            out_seq, out_ts = res
            assert out_seq == expected_seq
            expected_seq = seq_add(expected_seq, 1)
            if prev_ts is not None:
                assert 0 < ts_diff(out_ts, prev_ts) <= 900 + 1
            prev_ts = out_ts


@settings(max_examples=200, deadline=None)
@given(
    seq0=st.integers(0, 0xFFFF),
    perm=st.permutations(list(range(12))),
)
def test_property_reordering_within_window_keeps_relative_order(seq0, perm):
    """Delivered in any order (after the first), packets map to out_seq = first + offset."""
    rw = LegRewriter(RATE, 500, 0)
    rw.switch(PASSTHROUGH, 0.0)
    assert rw.rewrite(PASSTHROUGH, seq_add(seq0, -1), 0, 0.0) == (500, 0)
    seen = set()
    for i in perm:
        res = rw.rewrite(PASSTHROUGH, seq_add(seq0, i), 3000 * i, 0.0)
        assert res is not None
        assert res[0] == seq_add(501, i)
        seen.add(res[0])
        assert rw.rewrite(PASSTHROUGH, seq_add(seq0, i), 3000 * i, 0.0) is None  # duplicate
    assert len(seen) == 12
    assert rw.last_out_seq == seq_add(501, 11)


def test_dump_counts_drops():
    rw = LegRewriter(RATE, 0, 0)
    rw.switch(PASSTHROUGH, 0.0)
    rw.rewrite(PASSTHROUGH, 10, 0, 0.0)
    rw.rewrite(PASSTHROUGH, 10, 0, 0.0)  # duplicate
    rw.rewrite(PASSTHROUGH, 9, 0, 0.0)  # before the switch point
    rw.rewrite(RENDITION, 1, 0, 0.0)  # not current
    dump = rw.dump()
    assert dump["source_id"] == PASSTHROUGH
    assert (dump["dropped_duplicate"], dump["dropped_late"], dump["dropped_other_source"]) == (
        1,
        1,
        1,
    )


def test_shared_ts_space_keeps_offset_when_new_source_is_ahead():
    rw = LegRewriter(RATE, 0, 1000, shared_ts_space=True)
    rw.switch(PASSTHROUGH, 0.0)
    assert rw.rewrite(PASSTHROUGH, 500, 90000, 0.0) == (0, 1000)
    assert rw.rewrite(PASSTHROUGH, 501, 93000, 0.033) == (1, 4000)
    rw.switch(RENDITION, 0.04)
    # The rendition's keyframe carries source time 96000 (one frame later): offset kept.
    assert rw.rewrite(RENDITION, 7, 96000, 0.09) == (2, 7000)
    assert rw.map_ts(RENDITION, 99000) == 10000
    assert rw.dump()["switches_rebased"] == 0
    rw.switch(PASSTHROUGH, 0.1)
    assert rw.rewrite(PASSTHROUGH, 503, 99000, 0.1) == (3, 10000)
    assert rw.dump()["switches"] == 2


def test_shared_ts_space_rebases_when_new_source_is_behind():
    rw = LegRewriter(RATE, 0, 1000, shared_ts_space=True)
    rw.switch(PASSTHROUGH, 0.0)
    rw.rewrite(PASSTHROUGH, 500, 90000, 0.0)
    rw.rewrite(PASSTHROUGH, 501, 93000, 0.033)  # out ts 4000
    rw.switch(RENDITION, 0.04)
    # The rendition's keyframe is of source time 93000 (encode latency): same ts as the frame
    # just sent, so keeping the offset would not move forward. Rebased on wall time instead.
    assert rw.rewrite(RENDITION, 7, 93000, 0.05) == (2, 4000 + round(0.017 * RATE))
    assert rw.dump()["switches_rebased"] == 1


def test_shared_ts_space_rebases_on_absurd_jump():
    rw = LegRewriter(RATE, 0, 0, shared_ts_space=True)
    rw.switch(PASSTHROUGH, 0.0)
    rw.rewrite(PASSTHROUGH, 0, 0, 0.0)
    rw.switch(RENDITION, 0.0)
    assert rw.rewrite(RENDITION, 0, 20 * RATE, 0.01) == (1, 900)  # 20 s ahead: not trusted


@settings(max_examples=200, deadline=None)
@given(
    ts0=st.integers(0, 0xFFFFFFFF),
    lags=st.lists(st.integers(-6000, 6000), min_size=1, max_size=8),
)
def test_property_shared_ts_space_never_goes_back(ts0, lags):
    """Sources in one ts space, each switch landing a bit ahead of or behind the frame last
    sent: out_ts never goes back, and the offset is kept whenever the source is ahead."""
    rw = LegRewriter(RATE, 0, 12345, shared_ts_space=True)
    rw.switch(0, 0.0)
    now = 0.0
    src_ts = last_sent_src = ts0
    prev = rw.rewrite(0, 0, src_ts, now)[1]
    for n, lag in enumerate(lags, start=1):
        now += 0.033
        src_ts = ts_add(src_ts, 3000)
        before = rw.dump()["switches_rebased"]
        rw.switch(n, now)
        new_src = ts_add(src_ts, lag)
        out = rw.rewrite(n, 100 * n, new_src, now)
        assert out is not None
        assert ts_diff(out[1], prev) > 0
        if before == 0:  # offset still the original one: kept iff the source is ahead
            ahead = ts_diff(new_src, last_sent_src) > 0
            assert (rw.dump()["switches_rebased"] == 0) == ahead
            if ahead:
                assert ts_diff(out[1], prev) == ts_diff(new_src, last_sent_src)
        prev, last_sent_src = out[1], new_src
