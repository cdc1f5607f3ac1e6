import pytest

from sfu.packet.leg_rtt import REMEMBERED_REPORTS, LegRttError, LegRttEstimator
from sfu.packet.sender_report import ntp_from_unix


def _lsr(ntp: int) -> int:
    return (ntp >> 16) & 0xFFFFFFFF


def test_default_until_measured():
    rtt = LegRttEstimator(default=0.1)
    assert rtt.rtt == 0.1
    assert not rtt.measured


def test_round_trip_from_lsr_and_dlsr():
    rtt = LegRttEstimator()
    ntp = ntp_from_unix(1_000_000.25)
    rtt.on_sender_report_sent(ntp, now=50.0)
    # the subscriber held the SR 0.5 s, the report arrives 0.54 s after the SR left
    sample = rtt.on_report_block(_lsr(ntp), int(0.5 * 65536), now=50.54)
    assert sample == pytest.approx(0.04, abs=1e-4)
    assert rtt.rtt == pytest.approx(0.04, abs=1e-4)
    assert rtt.measured


def test_smoothing_moves_an_eighth_of_the_way():
    rtt = LegRttEstimator()
    for i, sample in enumerate((0.040, 0.120)):
        ntp = ntp_from_unix(1000.0 + i)
        rtt.on_sender_report_sent(ntp, now=float(i))
        rtt.on_report_block(_lsr(ntp), 0, now=i + sample)
    assert rtt.rtt == pytest.approx(0.040 + (0.120 - 0.040) / 8, abs=1e-4)


def test_unknown_zero_or_forgotten_lsr_is_ignored():
    rtt = LegRttEstimator()
    assert rtt.on_report_block(0, 0, now=1.0) is None  # no SR of ours yet
    assert rtt.on_report_block(12345, 0, now=1.0) is None  # never sent
    first = ntp_from_unix(2000.0)
    rtt.on_sender_report_sent(first, now=0.0)
    for i in range(REMEMBERED_REPORTS):
        rtt.on_sender_report_sent(ntp_from_unix(2001.0 + i), now=1.0 + i)
    assert rtt.on_report_block(_lsr(first), 0, now=20.0) is None  # pushed out
    assert not rtt.measured


def test_an_older_sr_still_counts():
    rtt = LegRttEstimator()
    old, new = ntp_from_unix(3000.0), ntp_from_unix(3001.0)
    rtt.on_sender_report_sent(old, now=0.0)
    rtt.on_sender_report_sent(new, now=1.0)
    assert rtt.on_report_block(_lsr(old), int(0.97 * 65536), now=1.0) == pytest.approx(0.03, abs=1e-4)


def test_broken_dlsr_is_ignored_and_rounding_is_not():
    rtt = LegRttEstimator()
    ntp = ntp_from_unix(4000.0)
    rtt.on_sender_report_sent(ntp, now=0.0)
    assert rtt.on_report_block(_lsr(ntp), int(0.5 * 65536), now=0.1) is None  # held longer than it existed
    assert rtt.on_report_block(_lsr(ntp), int(0.1 * 65536) + 3, now=0.1) == 0.0  # 46 us of rounding


def test_clamped_to_floor_and_ceiling():
    rtt = LegRttEstimator(floor=0.015, ceiling=1.0)
    ntp = ntp_from_unix(5000.0)
    rtt.on_sender_report_sent(ntp, now=0.0)
    rtt.on_report_block(_lsr(ntp), 0, now=0.0002)  # loopback
    assert rtt.rtt == 0.015
    slow = LegRttEstimator()
    slow.on_sender_report_sent(ntp, now=0.0)
    slow.on_report_block(_lsr(ntp), 0, now=3.0)
    assert slow.rtt == 1.0


@pytest.mark.parametrize(("floor", "default", "ceiling"), [(0, 0.1, 1), (0.2, 0.1, 1), (0.01, 2, 1)])
def test_bad_arguments(floor, default, ceiling):
    with pytest.raises(LegRttError):
        LegRttEstimator(floor=floor, default=default, ceiling=ceiling)
