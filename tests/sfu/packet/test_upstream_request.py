"""Asking a publisher to send less when every subscriber is capped lower (issue 15, item 3)."""

from __future__ import annotations

from sfu.packet.renditions import RenditionDemand
from sfu.packet.upstream_request import DOWN_HOLD_S, HeightRequest, UpstreamRequest


def test_largest_needed_height_is_the_largest_cap_or_none_when_a_leg_takes_any_size() -> None:
    demand = RenditionDemand((640, 480))
    demand.set_preference("a", 320, 240, False)
    demand.set_preference("b", None, 180, False)
    assert demand.largest_needed_height() == 240
    demand.set_limit("b", 640, 360, paused=False)  # the link's limit above its cap: the cap wins
    assert demand.largest_needed_height() == 240
    demand.set_preference("c", None, None, False)
    assert demand.largest_needed_height() is None  # c takes the full picture
    demand.set_limit("c", 320, 240)  # ... until its link limits it
    assert demand.largest_needed_height() == 240
    demand.set_preference("a", None, None, True)  # a paused leg needs nothing
    demand.set_limit("c", 160, 120)
    assert demand.largest_needed_height() == 180


def test_a_width_only_cap_counts_at_the_source_aspect_ratio() -> None:
    demand = RenditionDemand((1280, 720))
    demand.set_preference("a", 640, None, False)
    assert demand.largest_needed_height() == 360


def test_nobody_watching_asks_nothing() -> None:
    demand = RenditionDemand((640, 480))
    assert demand.largest_needed_height() is None
    demand.set_preference("a", 320, 240, True)
    assert demand.largest_needed_height() is None


def test_asking_less_waits_for_the_need_to_hold_and_more_is_immediate() -> None:
    req = UpstreamRequest()
    assert req.update(None, 480, 0.0) is None  # nothing asked, nothing to ask
    assert req.update(240, 480, 1.0) is None  # starts the hold
    assert req.update(240, 480, 1.0 + DOWN_HOLD_S - 0.1) is None
    assert req.update(240, 480, 1.0 + DOWN_HOLD_S) == HeightRequest(240)
    assert req.requested == 240
    # the publisher obeys: its source is 240 high now; the need is unchanged: nothing new
    assert req.update(240, 240, 5.0) is None
    # a subscriber wants more: asked at once, even above what arrives now
    assert req.update(360, 240, 5.1) == HeightRequest(360)
    # every cap lifted: the full size again (None), at once
    assert req.update(None, 360, 5.2) == HeightRequest(None)
    # a need at or above the full size seen is no need at all
    assert req.update(480, 480, 6.0) is None


def test_a_need_that_does_not_hold_asks_nothing_and_the_largest_need_in_the_hold_wins() -> None:
    req = UpstreamRequest()
    assert req.update(240, 480, 0.0) is None
    assert req.update(None, 480, 1.0) is None  # a leg uncapped again: the hold is over
    assert req.update(180, 480, 2.0) is None
    assert req.update(240, 480, 3.0) is None
    assert req.update(180, 480, 2.0 + DOWN_HOLD_S) == HeightRequest(240)


def test_flapping_need_asks_less_at_most_once_per_hold() -> None:
    req = UpstreamRequest()
    downs = 0
    t = 0.0
    while t < 30.0:
        need = 240 if int(t) % 2 == 0 else None  # one second capped, one second not
        got = req.update(need, 480, t)
        if got is not None and got.max_height is not None:
            downs += 1
        t += 0.25
    assert downs == 0
