"""The subscriber link estimator on synthetic feedback sequences (time passed in)."""

from __future__ import annotations

import pytest

from sfu.packet.link_estimate import PROBE_TARGET_MARGIN, LinkEstimateError, LinkEstimator

TICK = 0.05


class Link:
    """A synthetic link: we send ``send_bps``; it carries ``capacity_bps`` and drops the rest
    (a policer), reports loss every second per SSRC, and optionally sends REMB."""

    def __init__(self, estimator: LinkEstimator, ssrcs: tuple[int, ...] = (1111,)) -> None:
        self.estimator = estimator
        self.ssrcs = ssrcs
        self.now = 0.0
        self.highest = dict.fromkeys(ssrcs, 1000)
        self.lost = dict.fromkeys(ssrcs, 0)
        self.next_report = 1.0

    def run(
        self,
        seconds: float,
        send_bps: float,
        capacity_bps: float,
        remb: int | None = None,
        padding_bps: float = 0.0,
    ) -> float | None:
        """Run the link; returns the last estimate. ~1000-byte packets, shared by the SSRCs.
        Padding (a probe's) takes its share of the link, and is in no report."""
        end = self.now + seconds
        packets_per_s = send_bps / 8000
        carried = send_bps + padding_bps
        loss = max(0.0, 1.0 - capacity_bps / carried) if carried > 0 else 0.0
        while self.now < end - 1e-9:
            self.now += TICK
            self.estimator.on_sent(int(send_bps * TICK / 8), self.now)
            if padding_bps:
                self.estimator.on_padding(int(padding_bps * TICK / 8), self.now)
            if self.now >= self.next_report - 1e-9:
                self.next_report += 1.0
                per_ssrc = packets_per_s / len(self.ssrcs)
                for ssrc in self.ssrcs:
                    self.highest[ssrc] += round(per_ssrc)
                    self.lost[ssrc] += round(per_ssrc * loss)
                    self.estimator.on_receiver_report(
                        ssrc, self.lost[ssrc], self.highest[ssrc], self.now
                    )
                if remb is not None:
                    self.estimator.on_remb(remb, self.ssrcs, self.now)
            self.estimator.update(self.now)
        return self.estimator.estimate


def test_nothing_known_until_congestion_means_no_limit() -> None:
    link = Link(LinkEstimator())
    assert link.run(5, send_bps=900_000, capacity_bps=10_000_000, remb=1_400_000) is None


def test_a_policer_is_found_by_loss_alone_though_remb_stays_high() -> None:
    # Issue 15's measurement: behind a policer REMB stayed ~1.4 Mbit/s with 89 % loss.
    link = Link(LinkEstimator())
    estimate = link.run(3, send_bps=900_000, capacity_bps=300_000, remb=1_400_000)
    assert estimate is not None and estimate < 600_000
    # Sending at the estimate from then on: it settles near the policer's rate, not above.
    for _ in range(10):
        assert estimate is not None
        estimate = link.run(
            1, send_bps=min(estimate, 900_000), capacity_bps=300_000, remb=1_400_000
        )
    assert estimate is not None and 150_000 < estimate < 420_000, estimate


def test_a_congested_remb_bounds_the_estimate_without_loss() -> None:
    # A drop-tail queue: delay grows, the receiver's REMB falls below what we send.
    link = Link(LinkEstimator())
    assert link.run(2, send_bps=900_000, capacity_bps=900_000, remb=1_000_000) is None
    estimate = link.run(3, send_bps=900_000, capacity_bps=900_000, remb=215_000)  # it fell
    assert estimate == pytest.approx(215_000)


def test_loss_with_a_fallen_remb_takes_the_lower_of_the_two() -> None:
    # A drop-tail queue just narrowed to 300 kbit/s: the first loss interval still counts what
    # passed before the queue filled (20 % lost of 900 kbit/s: 720 kbit/s through), while the
    # receiver's REMB has fallen to 0.85x what arrives now (libwebrtc's overuse cut).
    link = Link(LinkEstimator())
    assert link.run(2, send_bps=900_000, capacity_bps=900_000, remb=1_000_000) is None
    estimate = link.run(1, send_bps=900_000, capacity_bps=720_000, remb=255_000)
    assert estimate == pytest.approx(300_000)
    # The same loss with a REMB that did not fall (a policer: no delay) is judged by loss alone.
    link = Link(LinkEstimator())
    link.run(2, send_bps=900_000, capacity_bps=900_000, remb=250_000)
    estimate = link.run(1, send_bps=900_000, capacity_bps=720_000, remb=250_000)
    assert estimate is not None and estimate > 600_000, estimate  # about 720 kbit/s: not the REMB


def test_a_remb_lagging_a_burst_is_no_congestion() -> None:
    estimator = LinkEstimator()
    estimator.on_sent(300_000, 0.5)  # a burst: 2.4 Mbit/s over the window
    estimator.on_remb(1_000_000, [1], 0.5)
    assert estimator.update(0.5) is None
    assert estimator.update(1.2) is None  # the burst left the window before a second passed
    link = Link(LinkEstimator())  # a receiver's estimate under a ramping sender: no bound
    assert link.run(5, send_bps=1_000_000, capacity_bps=10_000_000, remb=500_000) is None


def test_a_remb_above_what_we_send_is_no_bound() -> None:
    # An uncongested receiver's REMB sits near 1.5x what it receives: no reason to limit.
    estimator = LinkEstimator()
    link = Link(estimator)
    link.run(2, send_bps=900_000, capacity_bps=300_000)  # loss: an estimate exists
    before = estimator.estimate
    assert before is not None
    after = link.run(4, send_bps=150_000, capacity_bps=10_000_000, remb=240_000)
    assert after is not None and after > before  # grows though REMB (240k) < estimate


def test_the_estimate_grows_back_when_loss_ends_and_is_lifted_at_the_ceiling() -> None:
    estimator = LinkEstimator()
    link = Link(estimator)
    link.run(4, send_bps=900_000, capacity_bps=250_000)
    low = estimator.estimate
    assert low is not None and low < 500_000
    estimator.ceiling = 1_500_000
    grown = link.run(4, send_bps=150_000, capacity_bps=10_000_000)
    assert (
        grown is not None and grown > low * 1.3
    )  # 20 %/s once a report with enough packets says the loss is gone
    # Sending more (the next steps up), the estimate passes the ceiling: unlimited.
    assert link.run(15, send_bps=500_000, capacity_bps=10_000_000) is None


def test_moderate_loss_holds_the_estimate() -> None:
    estimator = LinkEstimator()
    link = Link(estimator)
    link.run(2, send_bps=900_000, capacity_bps=300_000)
    held = estimator.estimate
    assert held is not None
    # 5 % loss: neither decrease nor increase.
    assert link.run(3, send_bps=held, capacity_bps=held * 0.95) == pytest.approx(held)


def test_too_few_packets_are_not_judged() -> None:
    estimator = LinkEstimator()
    estimator.on_sent(10_000, 0.0)
    estimator.on_receiver_report(5, 0, 100, 0.0)
    estimator.on_receiver_report(5, 5, 110, 1.0)  # 50 % of 10 packets
    assert estimator.update(1.0) is None
    estimator.on_sent(10_000, 1.5)
    estimator.on_receiver_report(5, 10, 120, 2.0)  # 20 packets now: 50 %
    assert estimator.update(2.0) is not None


def test_remb_groups_chrome_total_and_aiortc_per_stream() -> None:
    estimator = LinkEstimator()
    estimator.on_remb(300_000, [1, 2], 0.0)  # Chrome: one REMB for the transport
    assert estimator.remb(0.0) == 300_000
    estimator.on_remb(100_000, [1], 0.1)  # overlaps: replaces the group
    estimator.on_remb(50_000, [2], 0.2)  # aiortc: one per stream, summed
    assert estimator.remb(0.2) == 150_000
    assert estimator.remb(10.0) is None  # stale


def test_bad_feedback_is_refused() -> None:
    with pytest.raises(LinkEstimateError, match="REMB bitrate"):
        LinkEstimator().on_remb(-1, [1], 0.0)
    with pytest.raises(LinkEstimateError, match="min_bps"):
        LinkEstimator(min_bps=0)


def test_growth_is_bounded_by_what_we_send_then_cleared_when_calm() -> None:
    estimator = LinkEstimator()
    link = Link(estimator)
    link.run(4, send_bps=900_000, capacity_bps=250_000)
    # Sending 100 kbit/s (a paused video's audio, a small picture): the estimate may probe up
    # to 3.5x that, not climb on untested.
    grown = link.run(8, send_bps=100_000, capacity_bps=10_000_000)
    assert grown is not None and grown <= 400_000
    assert link.run(40, send_bps=100_000, capacity_bps=10_000_000) is not None
    # A minute after the last decrease, without loss: no longer limited.
    assert link.run(15, send_bps=100_000, capacity_bps=10_000_000) is None


def test_growth_reaches_the_next_pictures_need_however_little_is_sent() -> None:
    # At a 480x360 rendition (~320 kbit/s with audio) of a 1.5 Mbit/s source, the source needs
    # ~1.8 Mbit/s of estimate: more than 3.5x what is sent. The shell's probe target lets the
    # estimate reach it with a margin (the need moves with the source's rate) and no further,
    # so the source can be tried again.
    estimator = LinkEstimator()
    link = Link(estimator)
    link.run(4, send_bps=900_000, capacity_bps=250_000)
    estimator.probe_target = 1_800_000
    grown = link.run(16, send_bps=320_000, capacity_bps=10_000_000)
    assert grown == pytest.approx(1_800_000 * PROBE_TARGET_MARGIN)
    estimator.probe_target = None
    held = link.run(3, send_bps=320_000, capacity_bps=10_000_000)
    assert held == pytest.approx(1_800_000 * PROBE_TARGET_MARGIN)  # held, not lowered


def grown_past_a_ceiling() -> tuple[LinkEstimator, Link]:
    """An estimate grown past its ceiling (600 kbit/s) at a smaller picture than the best (a
    probe target is set): 3.5x the 300 kbit/s it sends, though nothing carried that much."""
    estimator = LinkEstimator()
    link = Link(estimator)
    link.run(4, send_bps=900_000, capacity_bps=250_000)
    estimator.ceiling = 600_000
    estimator.probe_target = 500_000
    link.run(20, send_bps=300_000, capacity_bps=10_000_000)
    return estimator, link


def test_cleared_only_once_the_best_pictures_held_above_the_ceiling() -> None:
    estimator, link = grown_past_a_ceiling()
    assert estimator.estimate is not None and estimator.estimate > 600_000  # still limited
    # The best pictures (no probe target) carried without loss: cleared after 3 s above it.
    estimator.probe_target = None
    assert link.run(2.5, send_bps=600_000, capacity_bps=10_000_000) is not None
    assert link.run(1.0, send_bps=600_000, capacity_bps=10_000_000) is None


def test_a_failed_probe_of_the_best_is_not_cleared_before_its_loss_is_reported() -> None:
    estimator, link = grown_past_a_ceiling()
    # The up-switch to the best (900 kbit/s) on a 500 kbit/s link: its loss cuts the estimate,
    # which was never dropped in between (dropped, the chooser forgets the failed probe).
    estimator.probe_target = None
    for _ in range(40):
        assert link.run(0.1, send_bps=900_000, capacity_bps=500_000) is not None
    assert estimator.estimate is not None and estimator.estimate < 900_000  # below the probe


def test_a_cut_just_after_sending_less_takes_half_the_loss_other_cuts_all_of_it() -> None:
    estimator = LinkEstimator()
    link = Link(estimator)
    assert link.run(2, send_bps=900_000, capacity_bps=400_000) == pytest.approx(400_000, rel=0.05)
    before = estimator.estimate
    assert before is not None
    # Just after a switch down (sending less than 3/4 of a moment ago) the loss overstates the
    # link's (the old picture still queued, keyframes, resends): 75 % lost, 100 kbit/s got
    # through, but the cut leaves 1 - 0.75/2 of the estimate.
    after = link.run(2, send_bps=400_000, capacity_bps=100_000)
    assert after is not None and before * (1 - 0.75 / 2) * 0.99 <= after < before * 0.9, (before, after)
    # Sending the same (a policer's steady loss): cut to what gets through.
    assert link.run(4, send_bps=400_000, capacity_bps=100_000) == pytest.approx(100_000, rel=0.05)
    # A probe up the link cannot carry (the estimate grown to 3.5x the 200 kbit/s sent before):
    # cut to what got through, at once.
    assert link.run(15, send_bps=200_000, capacity_bps=10_000_000) == pytest.approx(700_000)
    assert link.run(2, send_bps=900_000, capacity_bps=300_000) == pytest.approx(300_000, rel=0.05)


def test_padding_counts_in_a_cut_but_not_in_growth() -> None:
    estimator = LinkEstimator()
    link = Link(estimator)
    assert link.run(2, send_bps=900_000, capacity_bps=400_000) == pytest.approx(400_000, rel=0.05)
    # Padding does not let the estimate grow past 3.5x the media: it is no picture's rate.
    assert link.run(10, send_bps=100_000, capacity_bps=10_000_000, padding_bps=900_000) == pytest.approx(
        400_000, rel=0.05
    )
    assert link.run(3, send_bps=200_000, capacity_bps=10_000_000) == pytest.approx(700_000, rel=0.05)
    # A probe the link cannot carry: 200 kbit/s of media and 400 of padding on a 300 kbit/s link
    # lose half of each, and the cut is to what got through of both (of the media alone, it
    # would be 100 kbit/s, the bottom of the ladder for a link that carries 300).
    assert link.run(2, send_bps=200_000, capacity_bps=300_000, padding_bps=400_000) == pytest.approx(
        300_000, rel=0.05
    )


def test_after_a_failed_probe_no_cut_goes_below_what_the_pictures_need_for_three_seconds() -> None:
    estimator = LinkEstimator()
    link = Link(estimator)
    assert link.run(2, send_bps=900_000, capacity_bps=400_000) == pytest.approx(400_000, rel=0.05)
    estimator.on_probe_failed(360_000, link.now)  # held at 1.05x: 378 kbit/s
    assert link.run(2, send_bps=400_000, capacity_bps=100_000) == pytest.approx(378_000)
    assert link.run(4, send_bps=400_000, capacity_bps=100_000) == pytest.approx(100_000, rel=0.05)


def test_after_a_passed_probe_the_estimate_grows_faster_for_a_while() -> None:
    def grown(passed: bool) -> float | None:
        estimator = LinkEstimator()
        link = Link(estimator)
        link.run(2, send_bps=900_000, capacity_bps=400_000)
        link.run(2, send_bps=400_000, capacity_bps=10_000_000)  # past the cut's settling
        start = estimator.estimate
        if passed:
            estimator.on_probe_passed(link.now)
        link.run(1, send_bps=400_000, capacity_bps=10_000_000)
        assert start is not None and estimator.estimate is not None
        return estimator.estimate / start

    assert grown(False) == pytest.approx(1.2, rel=0.02)
    assert grown(True) == pytest.approx(1.5, rel=0.02)


def test_a_failed_probe_caps_the_estimate_at_what_the_link_was_offered() -> None:
    estimator = LinkEstimator()
    link = Link(estimator)
    link.run(2, send_bps=900_000, capacity_bps=400_000)
    assert link.run(10, send_bps=400_000, capacity_bps=10_000_000) == pytest.approx(1_400_000)  # 3.5x
    link.run(1, send_bps=400_000, capacity_bps=10_000_000, padding_bps=500_000)
    estimator.on_probe_failed(100_000, link.now)
    assert estimator.estimate == pytest.approx(900_000, rel=0.02)  # media and padding
    # never below what the pictures the link has need
    estimator.on_probe_failed(1_000_000, link.now)
    assert estimator.estimate == pytest.approx(1_050_000)
