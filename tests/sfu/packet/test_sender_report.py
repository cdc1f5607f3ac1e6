import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sfu.packet.rewriter import LegRewriter
from sfu.packet.sender_report import (
    NTP_UNIX_OFFSET,
    LegSenderStats,
    SenderReportClock,
    SenderReportError,
    ntp_from_unix,
    unix_from_ntp,
)

SECOND = 1 << 32


def test_ntp_conversion_known_values():
    assert ntp_from_unix(0.0) == NTP_UNIX_OFFSET << 32
    assert ntp_from_unix(1.5) == ((NTP_UNIX_OFFSET + 1) << 32) + (1 << 31)
    assert unix_from_ntp(NTP_UNIX_OFFSET << 32) == 0.0


@given(st.floats(min_value=0, max_value=2_000_000_000, allow_nan=False))
def test_ntp_round_trip(t):
    assert unix_from_ntp(ntp_from_unix(t)) == pytest.approx(t, abs=1e-6)


def test_ntp_now_precision():
    t = time.time()
    assert abs(unix_from_ntp(ntp_from_unix(t)) - t) < 1e-6


def test_no_reference_yet():
    assert SenderReportClock(90000).rtp_at(ntp_from_unix(100.0)) is None


def test_from_sender_report():
    clock = SenderReportClock(90000)
    sr_ntp = ntp_from_unix(1000.0)
    clock.on_sender_report(sr_ntp, 5000)
    assert clock.has_sender_report
    assert clock.rtp_at(sr_ntp) == 5000
    assert clock.rtp_at(sr_ntp + SECOND) == 95000
    assert clock.rtp_at(sr_ntp + SECOND // 2) == 50000
    assert clock.rtp_at(sr_ntp - SECOND // 90000 * 10) in (4990, 4991)


def test_sender_report_wins_over_packets():
    clock = SenderReportClock(48000)
    base = ntp_from_unix(50.0)
    clock.on_packet(123, base)
    assert clock.rtp_at(base + SECOND) == 48123
    clock.on_sender_report(base, 1000)
    clock.on_packet(999999, base)  # packets no longer the reference
    assert clock.rtp_at(base + SECOND) == 49000


def test_received_at_uses_server_clock():
    clock = SenderReportClock(90000)
    publisher_ntp = ntp_from_unix(10.0)  # publisher's clock is 990 s behind ours
    arrival = ntp_from_unix(1000.0)
    clock.on_sender_report(publisher_ntp, 7, received_at_ntp=arrival)
    assert clock.rtp_at(arrival + 2 * SECOND) == 7 + 180000


def test_wraps_at_2_32():
    clock = SenderReportClock(90000)
    base = ntp_from_unix(0.0)
    clock.on_sender_report(base, 2**32 - 45000)
    assert clock.rtp_at(base + SECOND) == 45000


def test_reset():
    clock = SenderReportClock(90000)
    clock.on_sender_report(ntp_from_unix(1.0), 1)
    clock.reset()
    assert clock.rtp_at(ntp_from_unix(2.0)) is None


def test_bad_clock_rate():
    with pytest.raises(SenderReportError, match="clock_rate"):
        SenderReportClock(0)


def test_leg_sr_computation_through_rewriter():
    """What the shell does for a leg SR: source rtp_at(now) mapped through the leg offset."""
    clock = SenderReportClock(90000)
    base = ntp_from_unix(500.0)
    clock.on_sender_report(base, 1_000_000)
    rewriter = LegRewriter(90000, initial_seq=0, initial_ts=77)
    rewriter.switch(1, 0.0)
    rewriter.rewrite(1, 10, 1_000_000, 0.0)  # source ts 1_000_000 -> leg ts 77
    now = base + SECOND
    source_ts = clock.rtp_at(now)
    assert rewriter.map_ts(1, source_ts) == 77 + 90000


def test_leg_sender_stats_wrap():
    stats = LegSenderStats()
    stats.on_sent(100)
    stats.on_sent(50)
    assert (stats.packet_count, stats.octet_count) == (2, 150)
    stats.octet_count = 2**32 - 10
    stats.on_sent(20)
    assert stats.octet_count == 10
    stats.reset()
    assert (stats.packet_count, stats.octet_count) == (0, 0)
