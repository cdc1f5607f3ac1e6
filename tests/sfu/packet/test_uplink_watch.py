"""A publisher's uplink seen as limited from the REMB we send it, with persistence both ways."""

from sfu.packet.uplink_watch import UplinkWatch


def test_limited_after_three_seconds_well_below_the_need_and_good_again() -> None:
    watch = UplinkWatch()
    assert watch.update(None, 500_000, 0.0) is None  # no REMB yet
    assert watch.update(200_000, 500_000, 1.0) is None
    assert watch.update(200_000, 500_000, 3.9) is None
    assert watch.update(200_000, 500_000, 4.0) == "limited"
    assert watch.update(300_000, 500_000, 5.0) is None  # between the thresholds: holds
    assert watch.update(400_000, 500_000, 6.0) is None
    assert watch.update(200_000, 500_000, 7.0) is None  # a dip resets the clock
    assert watch.update(400_000, 500_000, 8.0) is None
    assert watch.update(400_000, 500_000, 11.0) == "good"
    assert watch.state == "good"


def test_a_short_dip_or_an_unknown_need_changes_nothing() -> None:
    watch = UplinkWatch()
    assert watch.update(100_000, 500_000, 0.0) is None
    assert watch.update(600_000, 500_000, 2.0) is None
    assert watch.update(100_000, 500_000, 2.5) is None
    assert watch.update(100_000, None, 6.0) is None
    assert watch.state == "good"
