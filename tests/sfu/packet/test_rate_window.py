"""RateWindow gives exactly what aiortc's RateCounter gives (it counts the incoming
bitrate of our REMB estimator), on random arrival sequences and on the edges; ``active``
answers whether ``rate`` would be a number."""

from __future__ import annotations

import pytest
from aiortc.rate import RateCounter
from hypothesis import given, settings
from hypothesis import strategies as st

from sfu.packet import RateWindow

# (ms since the previous sample, payload bytes, ask for the rate before adding?, reset first?)
steps = st.lists(
    st.tuples(st.integers(0, 1500), st.integers(0, 1500), st.booleans(), st.booleans()),
    min_size=1,
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(steps=steps, window=st.sampled_from([1, 5, 100, 1000]), start=st.integers(0, 10**9))
def test_same_rates_as_aiortc(steps: list[tuple[int, int, bool, bool]], window: int, start: int) -> None:
    ours, theirs = RateWindow(window, 8000), RateCounter(window, 8000)

    def same_at(now: int) -> None:
        # ``active`` first: it erases the window as ``rate`` does, so both are checked.
        assert ours.active(now) == (theirs.rate(now) is not None)
        assert ours.rate(now) == theirs.rate(now)

    now = start
    for gap, size, ask, reset in steps:
        now += gap
        if reset:
            ours.reset()
            theirs.reset()
        if ask:
            same_at(now)
        ours.add(size, now)
        theirs.add(size, now)
        same_at(now)
        same_at(now + 1)
        same_at(now + window // 2)
        now += window // 2


def test_empty_and_single_millisecond() -> None:
    window = RateWindow(1000)
    assert window.rate(5) is None
    assert not window.active(5)
    window.add(1000, 10)
    assert window.rate(10) is None  # one millisecond is not a window yet
    assert not window.active(10)
    assert window.active(11)
    assert window.rate(11) == round(8000 * 1000 / 2)
    assert window.rate(1010) is None  # everything left the window


def test_a_clock_stepping_back_keeps_the_totals() -> None:
    window = RateWindow(1000)
    window.add(100, 500)
    window.add(100, 400)  # earlier: joins the latest entry
    assert window.rate(500) is None  # one millisecond of window so far
    assert window.rate(999) == round(8000 * 200 / 500)
    assert window.rate(1500) is None


def test_window_size_is_checked() -> None:
    with pytest.raises(ValueError, match="window_size"):
        RateWindow(0)
