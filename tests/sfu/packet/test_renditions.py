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
        ((640, 480), (320, 240), (320, 240)),
        ((640, 480), (300, 240), (240, 180)),
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


def test_demand_from_caps():
    demand = RenditionDemand((1280, 720))
    assert demand.set_preference("a", None, 360, False, now=0.0) == (640, 360)
    assert demand.set_preference("b", None, 720, False, now=0.0) is None
    assert demand.set_preference("c", 320, 180, False, now=0.0) == (320, 180)
    assert demand.needed_sizes() == {(640, 360), (320, 180)}
    assert demand.needs_decode()
    assert demand.needs_passthrough()
    assert demand.target("b") is None
    assert demand.target("c") == (320, 180)
    assert demand.legs() == ["a", "b", "c"]


def test_paused_legs_need_nothing_and_resume_with_their_cap():
    demand = RenditionDemand((1280, 720))
    demand.set_preference("a", None, 360, False, now=0.0)
    assert demand.set_preference("a", None, 360, True, now=1.0) == PAUSED
    assert demand.target("a") == PAUSED
    assert demand.needed_sizes() == set()
    assert not demand.needs_passthrough()
    assert demand.set_preference("a", None, 360, False, now=2.0) == (640, 360)
    assert demand.needed_sizes() == {(640, 360)}


def test_remove_is_idempotent():
    demand = RenditionDemand((1280, 720))
    demand.set_preference("a", 640, 360, False, now=0.0)
    demand.remove("a", now=1.0)
    demand.remove("a", now=1.0)
    assert demand.needed_sizes() == set()
    assert demand.legs() == []
    with pytest.raises(RenditionError, match="leg 'a' is not known"):
        demand.target("a")


def test_idle_sizes_after_grace_with_explicit_times():
    demand = RenditionDemand((1280, 720))
    demand.set_preference("a", 640, 360, False, now=0.0)
    demand.set_preference("b", 320, 180, False, now=0.0)
    assert demand.active_sizes() == {(640, 360), (320, 180)}
    demand.remove("a", now=10.0)
    assert demand.needs_decode()
    assert demand.idle_sizes(11.0) == []
    assert demand.idle_sizes(11.49) == []
    assert demand.idle_sizes(11.5) == [(640, 360)]
    assert demand.idle_sizes(20.0) == []  # reported once
    assert demand.active_sizes() == {(320, 180)}
    demand.remove("b", now=20.0)
    assert demand.needs_decode(), "within the grace the encoder (and the decoder) keep running"
    assert demand.idle_sizes(21.5) == [(320, 180)]
    assert not demand.needs_decode()


def test_size_reused_within_grace_is_not_idle():
    demand = RenditionDemand((1280, 720))
    demand.set_preference("a", 640, 360, False, now=0.0)
    demand.set_preference("a", 320, 180, False, now=1.0)
    demand.set_preference("b", 640, 360, False, now=2.0)  # back in use before the grace ended
    assert demand.idle_sizes(10.0) == []
    demand.set_preference("b", None, None, False, now=10.0)
    assert demand.idle_sizes(11.0) == []
    assert demand.idle_sizes(11.5) == [(640, 360)]


def test_idle_timer_starts_at_first_poll_without_now():
    demand = RenditionDemand((1280, 720))
    demand.set_preference("a", 640, 360, False)
    demand.remove("a")
    assert demand.idle_sizes(100.0) == []
    assert demand.idle_sizes(101.0) == []
    assert demand.idle_sizes(101.5) == [(640, 360)]


def test_every_unused_encoder_stopped_within_two_seconds_when_polled():
    demand = RenditionDemand((1280, 720))
    demand.set_preference("a", None, 360, False, now=0.0)
    demand.remove("a", now=3.21)
    now, stopped_at = 3.0, None
    while stopped_at is None:
        now = round(now + 0.25, 6)
        if demand.idle_sizes(now):
            stopped_at = now
    assert stopped_at - 3.21 <= 2.0


def test_source_size_change_re_evaluates_every_leg():
    demand = RenditionDemand((1280, 720))
    demand.set_preference("small", None, 360, False, now=0.0)
    demand.set_preference("big", None, 720, False, now=0.0)
    demand.set_preference("fixed", 320, 180, False, now=0.0)
    demand.set_preference("paused", 320, None, True, now=0.0)
    changed = demand.set_source_size(640, 480, now=5.0)
    # paused legs are not listed: their new target applies when they resume
    assert changed == {"small": (480, 360), "fixed": (240, 180)}
    assert demand.target("big") is None  # 480 fits 720: passthrough
    assert demand.target("paused") == PAUSED
    assert demand.set_preference("paused", 320, None, False, now=6.0) == (320, 240)
    assert demand.needed_sizes() == {(480, 360), (320, 240), (240, 180)}
    assert demand.idle_sizes(6.5) == [(320, 180), (640, 360)]
    # Grows past the big leg's cap: now it needs a rendition too.
    changed = demand.set_source_size(1920, 1080, now=7.0)
    assert changed["big"] == (1280, 720)
    assert demand.needs_decode()


def test_unknown_source_size_means_passthrough_until_known_and_asks_for_decoding():
    demand = RenditionDemand()
    assert demand.set_preference("u", None, None, False) is None
    assert not demand.needs_source_size() and not demand.needs_decode()
    assert demand.set_preference("a", None, 360, False) is None
    assert demand.needs_source_size() and demand.needs_decode(), "decode to learn the size"
    assert demand.set_source_size(1280, 720) == {"a": (640, 360)}
    assert not demand.needs_source_size()


def test_a_transform_gives_every_leg_a_rendition_within_its_cap():
    demand = RenditionDemand((640, 480))
    demand.set_preference("full", None, None, False, now=0.0)
    demand.set_preference("small", 320, 240, False, now=0.0)
    demand.set_preference("off", None, None, True, now=0.0)
    assert demand.set_transform(True, now=1.0) == {"full": (640, 480)}
    assert demand.needed_sizes() == {(640, 480), (320, 240)}
    assert demand.set_transform(False, now=2.0) == {"full": None}
    assert demand.idle_sizes(3.5) == [(640, 480)]


def test_a_transform_with_an_unknown_size_asks_for_decoding():
    demand = RenditionDemand()
    demand.set_transform(True)
    assert demand.needs_source_size() and demand.needs_decode()
    demand.set_preference("a", None, None, False)
    assert demand.set_source_size(320, 240) == {"a": (320, 240)}


def test_the_limit_and_the_cap_combine_the_smaller_wins():
    demand = RenditionDemand((1280, 720))
    assert demand.set_preference("a", None, 540, False, now=0.0) == (960, 540)
    assert demand.set_limit("a", None, 360, now=1.0) == (640, 360)
    assert demand.set_limit("a", 2000, 1000, now=2.0) == (960, 540), "the cap is the smaller now"
    assert demand.set_preference("a", None, None, False, now=3.0) is None, "1000 lines fit the source"
    assert demand.set_limit("a", None, None, now=4.0) is None
    with pytest.raises(RenditionError, match="leg 'b' is not known"):
        demand.set_limit("b", None, 360)


def test_bad_preference():
    demand = RenditionDemand()
    for bad in ((0, None, False), (None, 1.5, False), (True, None, False), (None, None, "yes")):
        with pytest.raises(RenditionError, match=r"max_w|max_h|paused"):
            demand.set_preference("a", *bad)


def test_dump():
    demand = RenditionDemand((1280, 720))
    demand.set_preference("a", 640, 360, False, now=0.0)
    dump = demand.dump()
    assert dump["legs"] == {"a": (640, 360)}
    assert dump["needed_sizes"] == [(640, 360)]
    assert dump["transform"] is False


def test_a_link_pause_stops_the_leg_and_lifting_it_restores_the_limit_target() -> None:
    demand = RenditionDemand((640, 480))
    demand.set_preference("a", None, 360, paused=False, now=0.0)
    assert demand.set_limit("a", 240, 180, 0.0, paused=True) == PAUSED
    assert demand.needed_sizes() == set() and not demand.needs_passthrough()
    assert demand.explicit("a") == ((None, 360), False)
    assert demand.set_limit("a", 240, 180, 1.0) == (240, 180)
    assert demand.set_limit("a", None, None, 2.0) == (480, 360)  # the explicit cap still holds
    with pytest.raises(RenditionError, match="paused must be a bool"):
        demand.set_limit("a", None, None, 3.0, paused=1)  # type: ignore[arg-type]
