import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sfu.packet.renditions import (
    LADDER_HEIGHTS,
    PAUSED,
    RenditionDemand,
    RenditionError,
    target_size,
)


@pytest.mark.parametrize(
    ("source", "cap", "expected"),
    [
        ((1280, 720), (1280, 720), None),
        ((1280, 720), (None, None), None),
        ((1280, 720), (640, 360), (640, 360)),
        ((1280, 720), (None, 360), (640, 360)),
        ((1280, 720), (None, 400), (640, 360)),
        ((1280, 720), (None, 719), (960, 540)),
        ((640, 480), (320, 240), (240, 180)),
        ((640, 480), (None, 480), None),
        ((640, 480), (None, 360), (480, 360)),
        ((1920, 1080), (400, None), (320, 180)),
        ((720, 1280), (None, 720), (404, 720)),  # portrait: 405 rounded to even
        ((1280, 720), (None, 50), (160, 90)),  # below the ladder: smallest step
        ((100, 60), (50, None), (50, 30)),  # source under every step, too wide
    ],
)
def test_target_size_examples(source, cap, expected):
    assert target_size(*source, *cap) == expected


@given(
    w=st.integers(64, 3840),
    h=st.integers(64, 2160),
    max_w=st.none() | st.integers(64, 3840),
    max_h=st.none() | st.integers(64, 2160),
)
def test_target_size_properties(w, h, max_w, max_h):
    assume(0.25 <= w / h <= 4)  # camera and screen shapes
    size = target_size(w, h, max_w, max_h)
    fits = (max_w is None or w <= max_w) and (max_h is None or h <= max_h)
    if fits:
        assert size is None
        return
    assert size is not None
    tw, th = size
    assert tw % 2 == 0 and th % 2 == 0
    assert th <= h  # never upscaled
    if th in LADDER_HEIGHTS and (max_h is None or th <= max_h) and (max_w is None or tw <= max_w):
        # Largest: the next larger ladder step within the cap and source does not fit.
        bigger = [s for s in LADDER_HEIGHTS if th < s <= h and (max_h is None or s <= max_h)]
        for step in bigger:
            assert max_w is not None and round(w * step / h / 2) * 2 > max_w
    assert abs(tw / th - w / h) <= 2 / th + 2 / tw + 0.02 * (w / h)  # aspect kept (rounding)


@pytest.mark.parametrize(
    "args",
    [
        (0, 720, None, None),
        (1280, -1, None, None),
        (1280, 720, 0, None),
        (1280, 720, None, 1.5),
        (True, 720, None, None),
    ],
)
def test_target_size_rejects_bad_input(args):
    with pytest.raises(RenditionError):
        target_size(*args)


def test_demand_from_caps_and_explicit_sizes():
    demand = RenditionDemand((1280, 720))
    assert demand.set_consumer_cap("a", None, 360, now=0.0) == (640, 360)
    assert demand.set_consumer_cap("b", None, 720, now=0.0) is None
    demand.set_consumer("c", (320, 180), now=0.0)
    assert demand.needed_sizes() == {(640, 360), (320, 180)}
    assert demand.needs_decode()
    assert demand.needs_passthrough()
    assert demand.consumer_target("b") is None
    assert demand.consumer_target("c") == (320, 180)


def test_paused_consumers_need_nothing():
    demand = RenditionDemand((1280, 720))
    demand.set_consumer_cap("a", None, 360, now=0.0)
    demand.set_consumer("a", PAUSED, now=1.0)
    assert demand.consumer_target("a") == PAUSED
    assert demand.needed_sizes() == set()
    assert not demand.needs_decode()
    assert demand.resume_consumer("a", now=2.0) == (640, 360)
    assert demand.needed_sizes() == {(640, 360)}


def test_remove_consumer_idempotent():
    demand = RenditionDemand((1280, 720))
    demand.set_consumer("a", (640, 360), now=0.0)
    demand.remove_consumer("a", now=1.0)
    demand.remove_consumer("a", now=1.0)
    assert demand.needed_sizes() == set()
    assert demand.consumer_ids() == []
    with pytest.raises(RenditionError, match="consumer_id"):
        demand.consumer_target("a")


def test_idle_sizes_after_grace_with_explicit_times():
    demand = RenditionDemand((1280, 720))
    demand.set_consumer("a", (640, 360), now=0.0)
    demand.set_consumer("b", (320, 180), now=0.0)
    assert demand.active_sizes() == {(640, 360), (320, 180)}
    demand.remove_consumer("a", now=10.0)
    assert demand.idle_sizes(11.0) == []
    assert demand.idle_sizes(11.49) == []
    assert demand.idle_sizes(11.5) == [(640, 360)]
    assert demand.idle_sizes(20.0) == []  # reported once
    assert demand.active_sizes() == {(320, 180)}


def test_size_reused_within_grace_is_not_idle():
    demand = RenditionDemand((1280, 720))
    demand.set_consumer("a", (640, 360), now=0.0)
    demand.set_consumer("a", (320, 180), now=1.0)
    demand.set_consumer("b", (640, 360), now=2.0)  # back in use before the grace ended
    assert demand.idle_sizes(10.0) == []
    demand.set_consumer("b", None, now=10.0)
    assert demand.idle_sizes(11.0) == []
    assert demand.idle_sizes(11.5) == [(640, 360)]


def test_idle_timer_starts_at_first_poll_without_now():
    demand = RenditionDemand((1280, 720))
    demand.set_consumer("a", (640, 360))
    demand.remove_consumer("a")
    assert demand.idle_sizes(100.0) == []
    assert demand.idle_sizes(101.0) == []
    assert demand.idle_sizes(101.5) == [(640, 360)]


def test_every_unused_encoder_stopped_within_two_seconds_when_polled():
    demand = RenditionDemand((1280, 720))
    demand.set_consumer_cap("a", None, 360, now=0.0)
    demand.remove_consumer("a", now=3.21)
    now, stopped_at = 3.0, None
    while stopped_at is None:
        now = round(now + 0.25, 6)
        if demand.idle_sizes(now):
            stopped_at = now
    assert stopped_at - 3.21 <= 2.0


def test_source_size_change_re_evaluates_capped_consumers():
    demand = RenditionDemand((1280, 720))
    demand.set_consumer_cap("small", None, 360, now=0.0)
    demand.set_consumer_cap("big", None, 720, now=0.0)
    demand.set_consumer("fixed", (320, 180), now=0.0)
    demand.set_consumer_cap("paused", 320, None, now=0.0)
    demand.set_consumer("paused", PAUSED, now=0.0)
    changed = demand.set_source_size(640, 480, now=5.0)
    assert changed == {"small": (480, 360), "paused": (240, 180)}
    assert demand.consumer_target("big") is None  # 480 fits 720: passthrough
    assert demand.consumer_target("fixed") == (320, 180)  # explicit, untouched
    assert demand.consumer_target("paused") == PAUSED
    assert demand.needed_sizes() == {(480, 360), (320, 180)}
    assert demand.idle_sizes(6.5) == [(640, 360)]
    # Grows past the big consumer's cap: now it needs a rendition too.
    changed = demand.set_source_size(1920, 1080, now=7.0)
    assert changed["big"] == (1280, 720)
    assert demand.needs_decode()


def test_unknown_source_size_means_passthrough_until_known():
    demand = RenditionDemand()
    assert demand.set_consumer_cap("a", None, 360) is None
    assert demand.set_source_size(1280, 720) == {"a": (640, 360)}


def test_bad_consumer_size():
    demand = RenditionDemand()
    for bad in ((640,), (640, 0), "big", (640.0, 360)):
        with pytest.raises(RenditionError, match="size"):
            demand.set_consumer("a", bad)


def test_dump():
    demand = RenditionDemand((1280, 720))
    demand.set_consumer("a", (640, 360), now=0.0)
    dump = demand.dump()
    assert dump["consumers"] == {"a": (640, 360)}
    assert dump["needed_sizes"] == [(640, 360)]
