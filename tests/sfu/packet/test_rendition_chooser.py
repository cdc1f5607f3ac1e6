"""The per-subscriber rendition chooser: fitting, sharing, hysteresis, pausing (time passed in)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from sfu.packet.rendition_chooser import (
    HEADROOM,
    Choice,
    RenditionChooser,
    VideoLeg,
    VideoOption,
    rendition_bitrate,
    video_options,
)
from sfu.packet.renditions import PAUSED

CAMERA = VideoLeg("cam", video_options((640, 480), source_bps=900_000))
AUDIO = 40_000


def budget(video_bps: float) -> float:
    """The estimate that leaves ``video_bps`` for video."""
    return (video_bps + AUDIO) / HEADROOM


def after_a_failed_probe_of_the_source() -> RenditionChooser:
    """A chooser whose leg went up to the source at 6 s (the probe) and down at 8 s (failed)."""
    chooser = RenditionChooser()
    chooser.choose(budget(110_000), AUDIO, [CAMERA], 0.0)
    chooser.choose(budget(1_000_000), AUDIO, [CAMERA], 1.0)
    assert chooser.choose(budget(1_000_000), AUDIO, [CAMERA], 6.0)[0]["cam"] is None  # the probe
    assert chooser.choose(budget(300_000), AUDIO, [CAMERA], 8.0)[0]["cam"] == (480, 360)  # failed
    return chooser


def switches(
    chooser: RenditionChooser, estimate: float | None, start: float, end: float
) -> list[tuple[float, Choice]]:
    """The switches (time, picture) of calls every 0.5 s after ``start`` up to ``end``."""
    made: list[tuple[float, Choice]] = []
    t = start
    while t < end - 1e-9:
        t = round(t + 0.5, 3)
        made += [(t, s.choice) for s in chooser.choose(estimate, AUDIO, [CAMERA], t)[1]]
    return made


def test_options_best_first_below_the_cap() -> None:
    pictures = [o.picture for o in video_options((640, 480), source_bps=900_000)]
    assert pictures == [None, (480, 360), (320, 240), (240, 180), (120, 90)]
    capped = video_options((640, 480), (320, 240))
    assert [o.picture for o in capped] == [(320, 240), (240, 180), (120, 90)]
    assert video_options(None, source_bps=5.0) == (VideoOption(None, 5.0),)
    # With a transform on the source size is itself a rendition: its encoding bitrate.
    assert video_options((1280, 720), transform=True)[0].need_bps == 1_500_000
    assert rendition_bitrate((320, 180), 1_500_000, 100_000) == 100_000


def test_no_estimate_gives_the_best_and_a_new_leg_is_placed_at_once() -> None:
    chooser = RenditionChooser()
    assert chooser.choose(None, AUDIO, [CAMERA], 0.0)[0] == {"cam": None}
    other = RenditionChooser()
    choices, switches = other.choose(budget(200_000), AUDIO, [CAMERA], 0.0)
    assert choices == {"cam": (320, 240)} and switches == []


def test_down_at_once_then_at_most_once_per_two_seconds() -> None:
    chooser = RenditionChooser()
    chooser.choose(None, AUDIO, [CAMERA], 0.0)
    choices, switches = chooser.choose(budget(300_000), AUDIO, [CAMERA], 0.1)
    assert choices["cam"] == (480, 360) and [s.direction for s in switches] == ["down"]
    assert chooser.choose(budget(110_000), AUDIO, [CAMERA], 1.0)[0]["cam"] == (
        480,
        360,
    )  # 2 s not up
    assert chooser.choose(budget(110_000), AUDIO, [CAMERA], 2.1)[0]["cam"] == (
        240,
        180,
    )  # straight there


def ups_when(video_at: Callable[[float], float], until: float) -> list[tuple[float, Choice]]:
    """The up-switches of a leg at 240x180 whose video budget is ``video_at(t)``, every 0.25 s."""
    chooser = RenditionChooser()
    chooser.choose(budget(110_000), AUDIO, [CAMERA], 0.0)
    t = 0.0
    ups = []
    while t < until:
        t += 0.25
        _choices, made = chooser.choose(budget(video_at(t)), AUDIO, [CAMERA], t)
        ups += [(t, s.choice) for s in made if s.direction == "up"]
    return ups


def test_up_after_five_seconds_of_headroom_to_the_best_picture_that_has_fitted_three() -> None:
    # 480x360 fits from 0.25 s, the source from 2 s: 5 s after the headroom began, the source.
    assert ups_when(lambda t: 300_000 if t < 2 else 1_000_000, 12.0) == [(5.25, None)]
    # The source from 3 s: 480x360 first, the source once it has fitted 3 s and the first step
    # has had 3 s to report its loss.
    assert ups_when(lambda t: 300_000 if t < 3 else 1_000_000, 12.0) == [(5.25, (480, 360)), (8.25, None)]


def test_the_headroom_is_kept_across_an_up_switch_and_restarted_by_a_cut() -> None:
    # The source fits from 7 s: up once it has fitted 3 s, not after 5 s more of headroom
    # counted from the first switch (a link freed from a limit climbs its steps 3 s apart).
    assert ups_when(lambda t: 300_000 if t < 7 else 1_000_000, 13.0) == [(5.25, (480, 360)), (10.0, None)]
    # A cut at 6 s (to what still carries 480x360): 5 s of headroom again from there.
    assert ups_when(lambda t: 300_000 if t < 6 else 290_000 if t < 7 else 1_000_000, 14.0) == [
        (5.25, (480, 360)),
        (11.0, None),
    ]


def test_a_failed_probe_makes_the_next_up_wait_longer() -> None:
    chooser = RenditionChooser()
    chooser.choose(budget(110_000), AUDIO, [CAMERA], 0.0)
    chooser.choose(budget(1_000_000), AUDIO, [CAMERA], 1.0)
    assert chooser.choose(budget(1_000_000), AUDIO, [CAMERA], 6.0)[1][0].direction == "up"
    assert (
        chooser.choose(budget(110_000), AUDIO, [CAMERA], 8.0)[1][0].direction == "down"
    )  # the probe failed
    chooser.choose(budget(1_000_000), AUDIO, [CAMERA], 8.5)
    assert (
        chooser.choose(budget(1_000_000), AUDIO, [CAMERA], 14.0)[1] == []
    )  # 5 s are not enough now
    assert chooser.choose(budget(1_000_000), AUDIO, [CAMERA], 18.6)[1][0].direction == "up"


def test_oscillating_link_switches_at_most_once_per_two_seconds() -> None:
    chooser = RenditionChooser()
    times = []
    t = 0.0
    while t < 60:
        video = 400_000 if int(t / 3) % 2 else 1_500_000
        for switch in chooser.choose(budget(video), AUDIO, [CAMERA], t)[1]:
            times.append(t)
            assert switch.leg == "cam"
        t += 0.05
    assert all(b - a >= 2.0 for a, b in itertools.pairwise(times)), times
    assert len(times) <= 2  # down once; up never sees 5 s of headroom


def test_below_the_smallest_pauses_and_resumes_by_itself() -> None:
    chooser = RenditionChooser()
    chooser.choose(None, AUDIO, [CAMERA], 0.0)
    # A 100 kbit/s link: the cheapest picture first (240x180: 120x90 needs as much) (pausing is the last resort), then paused.
    assert chooser.choose(100_000, AUDIO, [CAMERA], 1.0)[0]["cam"] == (240, 180)
    assert chooser.choose(100_000, AUDIO, [CAMERA], 2.0)[0]["cam"] == (240, 180)
    assert chooser.choose(100_000, AUDIO, [CAMERA], 3.0)[0]["cam"] == (240, 180)  # not yet 3 s
    assert chooser.choose(100_000, AUDIO, [CAMERA], 4.0)[0]["cam"] == PAUSED
    t = 4.0
    resumed = None
    while resumed is None:
        t += 0.5
        choices, _ = chooser.choose(budget(150_000), AUDIO, [CAMERA], t)
        if choices["cam"] != PAUSED:
            resumed = t, choices["cam"]
    assert resumed == (9.5, (320, 240))  # 5 s after the headroom began


def test_a_short_dip_below_the_smallest_does_not_pause() -> None:
    # The first cuts of a congested link measure the queue it held before the switches down:
    # a dip under the smallest picture's need that ends within 3 s keeps the picture.
    chooser = RenditionChooser()
    chooser.choose(None, AUDIO, [CAMERA], 0.0)
    assert chooser.choose(100_000, AUDIO, [CAMERA], 1.0)[0]["cam"] == (240, 180)
    assert chooser.choose(100_000, AUDIO, [CAMERA], 3.5)[0]["cam"] == (240, 180)
    assert chooser.choose(budget(110_000), AUDIO, [CAMERA], 3.9)[0]["cam"] == (240, 180)
    assert chooser.choose(100_000, AUDIO, [CAMERA], 4.5)[0]["cam"] == (240, 180)  # starved anew


def test_a_screen_share_keeps_priority_over_cameras() -> None:
    screen = VideoLeg("screen", video_options((1280, 720), source_bps=1_200_000), priority=0)
    cam_a = VideoLeg("a", video_options((640, 480), source_bps=900_000))
    cam_b = VideoLeg("b", video_options((640, 480), source_bps=900_000))
    choices, _ = RenditionChooser().choose(budget(1_100_000), AUDIO, [cam_a, screen, cam_b], 0.0)
    # The screen takes what it can while each camera keeps its smallest step; cameras share the rest.
    assert choices["screen"] == (960, 540)
    assert choices["a"] == choices["b"] == (320, 240)
    choices, _ = RenditionChooser().choose(budget(250_000), AUDIO, [cam_a, screen, cam_b], 0.0)
    # Too little to keep the cameras' smallest as well: the screen first, the cameras paused.
    assert choices["screen"] == (426, 240)
    assert choices["a"] == choices["b"] == PAUSED


def test_a_leg_without_options_is_refused() -> None:
    with pytest.raises(ValueError, match="no option"):
        RenditionChooser().choose(None, 0, [VideoLeg("x", ())], 0.0)


def test_the_picture_of_a_failed_probe_waits_thirty_seconds() -> None:
    chooser = after_a_failed_probe_of_the_source()
    # not before 30 s after the failure, though it "fitted" all along
    assert switches(chooser, budget(1_000_000), 8.0, 45.0) == [(38.0, None)]


def test_next_step_is_the_estimate_at_which_a_better_picture_fits() -> None:
    # A 1.5 Mbit/s camera at 480x360: the source needs more than 3.5x what 480x360 and its audio
    # send, and the estimate must be allowed to grow that far for the source to be tried again.
    camera = VideoLeg("cam", video_options((640, 480), source_bps=1_500_000))
    chooser = RenditionChooser()
    chooser.choose(budget(300_000), AUDIO, [camera], 0.0)
    assert chooser.choice("cam") == (480, 360)
    step = chooser.next_step(budget(300_000), AUDIO, [camera])
    assert step == pytest.approx(budget(1_500_000), rel=0.011)
    assert step is not None and step >= budget(1_500_000)  # at it the source fits, not below
    assert chooser.choose(step, AUDIO, [camera], 0.25)[0]["cam"] == (480, 360)  # held, not up
    # Already fitting (the hold running): still what the source needs, not the estimate (the
    # estimator grows past its target by a margin: a target following it let it run away).
    above = chooser.next_step(budget(1_600_000), AUDIO, [camera])
    assert above == pytest.approx(budget(1_500_000), rel=0.011) and above >= budget(1_500_000)
    # At the best: no next step.
    best = RenditionChooser()
    best.choose(None, AUDIO, [camera], 0.0)
    assert best.next_step(budget(300_000), AUDIO, [camera]) is None
    assert RenditionChooser().next_step(1_000.0, AUDIO, [camera]) is None  # no choice yet


def test_next_step_of_a_paused_leg_is_its_smallest_picture() -> None:
    chooser = RenditionChooser()
    chooser.choose(budget(10_000), AUDIO, [CAMERA], 0.0)
    assert chooser.choice("cam") == PAUSED
    smallest = CAMERA.options[-1].need_bps
    assert chooser.next_step(budget(10_000), AUDIO, [CAMERA]) == pytest.approx(budget(smallest), rel=0.011)


def test_a_dip_below_the_smallest_restarts_the_headroom_for_an_up_switch() -> None:
    chooser = RenditionChooser()
    chooser.choose(None, AUDIO, [CAMERA], 0.0)
    chooser.choose(100_000, AUDIO, [CAMERA], 1.0)  # down to the smallest
    chooser.choose(budget(150_000), AUDIO, [CAMERA], 4.0)  # 320x240 fits: headroom begins
    chooser.choose(100_000, AUDIO, [CAMERA], 6.0)  # a dip below the smallest (not paused)
    ups = []
    t = 6.0
    while t < 13:
        t += 0.5
        ups += [(t, s.choice) for s in chooser.choose(budget(150_000), AUDIO, [CAMERA], t)[1]]
    assert ups == [(11.5, (320, 240))]  # 5 s after the dip, not 5 s after 4.0


def test_only_the_first_switch_down_after_an_up_judges_the_probe() -> None:
    # A probe of the source fails, then the link narrows further until the leg is paused: those
    # later steps down are not failed probes (counted as such, the paused leg never resumed).
    chooser = after_a_failed_probe_of_the_source()
    assert chooser.choose(budget(110_000), AUDIO, [CAMERA], 10.0)[0]["cam"] == (240, 180)
    assert chooser.choose(10_000, AUDIO, [CAMERA], 12.0)[0]["cam"] == (240, 180)
    assert chooser.choose(10_000, AUDIO, [CAMERA], 15.0)[0]["cam"] == PAUSED
    # Resumed after the failed probe's 10 s hold, below the failed source until its 30 s are over.
    assert switches(chooser, budget(1_000_000), 15.0, 45.0) == [(25.5, (480, 360)), (38.0, None)]


def test_a_link_that_clears_forgets_its_failed_probes() -> None:
    chooser = after_a_failed_probe_of_the_source()
    # the usual 5 s of headroom, not the failure's 30 s
    assert switches(chooser, None, 8.0, 45.0) == [(13.5, None)]


def test_a_smaller_picture_holding_does_not_end_the_back_off() -> None:
    # A 500 kbit/s link: the source fails, 480x360 holds. The source is tried again after 30 s
    # and fails again: the next try waits 60 s (480x360 holding says nothing of the source).
    chooser = RenditionChooser()
    chooser.choose(budget(110_000), AUDIO, [CAMERA], 0.0)
    assert switches(chooser, budget(1_000_000), 0.0, 6.0) == [(5.5, None)]  # the probe of the source
    assert switches(chooser, budget(200_000), 6.0, 8.0) == [(7.5, (320, 240))]  # failed
    assert switches(chooser, budget(350_000), 8.0, 30.0) == [(18.0, (480, 360))]  # after 10 s
    assert switches(chooser, budget(1_000_000), 30.0, 38.0) == [(37.5, None)]  # 30 s after
    assert switches(chooser, budget(350_000), 38.0, 40.0) == [(39.5, (480, 360))]  # failed again
    assert switches(chooser, budget(1_000_000), 40.0, 110.0) == [(99.5, None)]  # 60 s later


def test_a_link_carrying_the_smallest_picture_without_loss_is_not_paused() -> None:
    # The estimate is still under the smallest picture's need after the cuts of a narrowing,
    # but the link loses nothing at that picture: not paused. Losing again, paused after 3 s.
    chooser = RenditionChooser()
    chooser.choose(None, AUDIO, [CAMERA], 0.0)
    assert chooser.choose(100_000, AUDIO, [CAMERA], 1.0, losing=False)[0]["cam"] == (240, 180)
    assert chooser.choose(100_000, AUDIO, [CAMERA], 10.0, losing=False)[0]["cam"] == (240, 180)
    assert chooser.choose(100_000, AUDIO, [CAMERA], 11.0)[0]["cam"] == (240, 180)
    assert chooser.choose(100_000, AUDIO, [CAMERA], 13.5)[0]["cam"] == (240, 180)
    assert chooser.choose(100_000, AUDIO, [CAMERA], 14.0)[0]["cam"] == PAUSED


def probes_and_switches(
    chooser: RenditionChooser, estimate: float, start: float, end: float
) -> tuple[list[tuple[float, Choice, float]], list[tuple[float, Choice]]]:
    """Calls every 0.5 s after ``start`` up to ``end``: the probes asked (time, picture, padding
    rate) and the switches made (time, picture)."""
    asked: list[tuple[float, Choice, float]] = []
    made: list[tuple[float, Choice]] = []
    t = start
    while t < end - 1e-9:
        t = round(t + 0.5, 3)
        made += [(t, s.choice) for s in chooser.choose(estimate, AUDIO, [CAMERA], t)[1]]
        wanted = chooser.probe_wanted
        if wanted is not None:
            asked.append((t, wanted.picture, wanted.extra_bps))
    return asked, made


def test_probing_up_asks_for_padding_before_the_hold_ends_and_switches_only_after_a_pass() -> None:
    chooser = RenditionChooser(probe_up=True)
    assert chooser.choose(budget(110_000), AUDIO, [CAMERA], 0.0)[0]["cam"] == (240, 180)
    # 320x240 fits from 0.5 s: its probe is asked 3 s before the 5 s hold ends, for what it would
    # add (125 kbit/s over 240x180's 100), and nothing switches without a verdict.
    asked, made = probes_and_switches(chooser, budget(200_000), 0.0, 8.0)
    assert asked[0] == (2.5, (320, 240), pytest.approx(25_000))
    assert {picture for _, picture, _ in asked} == {(320, 240)}
    assert made == []
    chooser.probe_result("cam", (320, 240), True, 8.0)
    assert chooser.choose(budget(200_000), AUDIO, [CAMERA], 8.0)[1][0].choice == (320, 240)


def test_a_probe_passed_early_switches_when_the_hold_ends() -> None:
    chooser = RenditionChooser(probe_up=True)
    chooser.choose(budget(110_000), AUDIO, [CAMERA], 0.0)
    probes_and_switches(chooser, budget(200_000), 0.0, 3.5)
    assert chooser.probe_wanted is not None
    chooser.probe_result("cam", (320, 240), True, 4.0)
    asked, made = probes_and_switches(chooser, budget(200_000), 3.5, 8.0)
    assert made == [(5.5, (320, 240))]  # 5 s after the headroom began, not at the pass
    assert asked == []


def test_a_failed_padding_probe_restarts_the_headroom_and_bars_its_picture_up_to_six_seconds() -> None:
    chooser = RenditionChooser(probe_up=True)
    chooser.choose(budget(110_000), AUDIO, [CAMERA], 0.0)
    probes_and_switches(chooser, budget(200_000), 0.0, 4.0)
    chooser.probe_result("cam", (320, 240), False, 4.0)
    assert chooser.barred_for("cam", 4.0) == 3.0
    # The headroom starts again at the next call (4.5 s): the next probe once the 3 s bar is
    # over (its headroom would allow it from 6.5 s, 3 s before its 5 s end).
    asked, made = probes_and_switches(chooser, budget(200_000), 4.0, 8.0)
    assert asked[0][0] == 7.0 and made == []
    chooser.probe_result("cam", (320, 240), False, 7.0)
    asked, _ = probes_and_switches(chooser, budget(200_000), 7.0, 16.0)
    assert asked[0][0] == 13.0  # the bar: 6 s this time
    chooser.probe_result("cam", (320, 240), True, 13.0)
    assert chooser.choose(budget(200_000), AUDIO, [CAMERA], 13.0)[0]["cam"] == (320, 240)
    # A pass resets the bar: the next failure bars for 3 s again.
    chooser.probe_result("cam", None, False, 20.0)
    assert chooser.barred_for("cam", 20.0) == 3.0


def test_the_estimate_that_keeps_every_picture_counts_the_audio_and_skips_paused_legs() -> None:
    chooser = RenditionChooser()
    other = VideoLeg("other", CAMERA.options)
    chooser.choose(budget(110_000), AUDIO, [CAMERA], 0.0)  # cam: 240x180 (100 kbit/s)
    assert chooser.estimate_for_current(AUDIO, [CAMERA]) == pytest.approx(budget(100_000))
    # a leg the chooser has not seen yet needs nothing
    assert chooser.estimate_for_current(AUDIO, [CAMERA, other]) == pytest.approx(budget(100_000))


def after_a_passed_probe_of_320x240() -> RenditionChooser:
    """A probing chooser whose leg, at 240x180, passed a probe of 320x240 at 4 s."""
    chooser = RenditionChooser(probe_up=True)
    chooser.choose(budget(110_000), AUDIO, [CAMERA], 0.0)
    probes_and_switches(chooser, budget(200_000), 0.0, 4.0)
    chooser.probe_result("cam", (320, 240), True, 4.0)
    return chooser


def test_a_passed_probe_switches_to_its_picture_though_the_estimate_allows_more_by_then() -> None:
    chooser = after_a_passed_probe_of_320x240()
    # The estimate now allows 480x360: the switch is to 320x240, the picture probed, and the
    # next probe (of 480x360) comes only after that.
    asked, made = probes_and_switches(chooser, budget(400_000), 4.0, 8.0)
    assert made == [(5.5, (320, 240))]
    assert all(t > 5.5 for t, _, _ in asked)


def test_a_probe_of_the_source_pads_a_fifth_more_than_its_measured_rate() -> None:
    chooser = RenditionChooser(probe_up=True)
    chooser.choose(budget(300_000), AUDIO, [CAMERA], 0.0)  # 480x360 (281.25 kbit/s)
    asked, _ = probes_and_switches(chooser, budget(1_000_000), 0.0, 4.0)
    assert asked[0][1:] == (None, pytest.approx(1.2 * 900_000 - 281_250))


def test_the_next_probe_may_start_a_second_after_an_up_switch() -> None:
    chooser = after_a_passed_probe_of_320x240()
    asked, made = probes_and_switches(chooser, budget(300_000), 4.0, 9.0)
    assert made == [(5.5, (320, 240))]
    # 480x360 has fitted since 4.5 s: its probe 1 s after the switch, the switch itself not
    # before 3 s after the last (and 3 s of fitting).
    assert asked[0][:2] == (6.5, (480, 360))
    chooser.probe_result("cam", (480, 360), True, 7.0)
    assert probes_and_switches(chooser, budget(300_000), 7.0, 9.0)[1] == [(8.5, (480, 360))]
