"""SegmentationScheduler: segment every frame when there is time, every Nth when not."""

from __future__ import annotations

import pytest

from effects.shedding import SegmentationScheduler

FRAME = 1 / 30


def run(scheduler: SegmentationScheduler, frames: int, segmentation: float, rest: float, start: int = 0) -> list[bool]:
    """Drive the scheduler like BackgroundEffect does; return which frames were segmented."""
    segmented = []
    for index in range(start, start + frames):
        scheduler.observe_timestamp(index * FRAME)
        segment = scheduler.should_segment()
        segmented.append(segment)
        scheduler.record(segmentation if segment else None, rest)
    return segmented


def test_segments_every_frame_when_there_is_time():
    scheduler = SegmentationScheduler(max_every=4, default_interval=FRAME)
    assert all(run(scheduler, 60, segmentation=0.006, rest=0.004))
    assert scheduler.every == 1


def test_segments_every_other_frame_when_a_frame_costs_more_than_the_interval():
    scheduler = SegmentationScheduler(max_every=4, default_interval=FRAME)
    # 40 ms of segmentation + 5 ms of the rest > 33 ms; 20 + 5 fits.
    pattern = run(scheduler, 60, segmentation=0.040, rest=0.005)
    assert scheduler.every == 2
    assert pattern[-10:] == [True, False] * 5 or pattern[-10:] == [False, True] * 5


def test_sheds_up_to_the_limit_when_even_the_rest_does_not_fit():
    scheduler = SegmentationScheduler(max_every=4, default_interval=FRAME)
    pattern = run(scheduler, 40, segmentation=0.050, rest=0.040)
    assert scheduler.every == 4
    assert sum(pattern[-20:]) == 5


def test_recovers_when_the_machine_has_time_again():
    scheduler = SegmentationScheduler(max_every=4, default_interval=FRAME)
    run(scheduler, 40, segmentation=0.080, rest=0.010)
    assert scheduler.every == 4
    run(scheduler, 100, segmentation=0.006, rest=0.004, start=40)
    assert scheduler.every == 1


def test_does_not_flap_at_the_edge():
    scheduler = SegmentationScheduler(max_every=4, default_interval=FRAME)
    # every=1 costs 34 ms (just over), every=2 costs 22 ms: stays at 2, even though
    # dropping back to 1 is "almost" possible.
    run(scheduler, 30, segmentation=0.024, rest=0.010)
    history = []
    for index in range(30, 90):
        run(scheduler, 1, segmentation=0.024, rest=0.010, start=index)
        history.append(scheduler.every)
    assert set(history) == {2}


def test_interval_is_the_smallest_recent_step_so_dropped_frames_do_not_hide_overload():
    scheduler = SegmentationScheduler(max_every=4, default_interval=0.5)
    assert scheduler.interval == 0.5  # nothing seen yet
    for timestamp in (0.0, FRAME, 3 * FRAME, 5 * FRAME, 7 * FRAME):  # the pipeline dropped every other frame
        scheduler.observe_timestamp(timestamp)
    assert scheduler.interval == pytest.approx(FRAME)
    scheduler.observe_timestamp(100.0)  # a jump (pause, restart) is not a frame step
    scheduler.observe_timestamp(None)
    assert scheduler.interval == pytest.approx(FRAME)


def test_invalidate_forces_a_segmentation_on_the_next_frame():
    scheduler = SegmentationScheduler(max_every=4, default_interval=FRAME)
    run(scheduler, 20, segmentation=0.080, rest=0.010)
    while scheduler.should_segment():
        scheduler.record(0.080, 0.010)
    assert not scheduler.should_segment()
    scheduler.invalidate()
    assert scheduler.should_segment()


def test_first_frame_is_always_segmented():
    scheduler = SegmentationScheduler(max_every=4, default_interval=FRAME)
    scheduler.every = 4
    assert scheduler.should_segment()


def test_a_minimum_step_is_kept_even_with_time_to_spare():
    scheduler = SegmentationScheduler(max_every=4, default_interval=FRAME, min_every=2)
    pattern = run(scheduler, 20, segmentation=0.002, rest=0.002)
    assert scheduler.every == 2
    assert pattern[:6] == [True, False, True, False, True, False]
    run(scheduler, 30, segmentation=0.080, rest=0.010, start=20)
    assert scheduler.every == 4  # and still sheds more when needed
