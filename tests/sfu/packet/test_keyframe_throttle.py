import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfu.packet.keyframe_throttle import KeyframeRequestThrottle, KeyframeThrottleError


def test_first_request_sent_immediately():
    throttle = KeyframeRequestThrottle(1.0)
    assert throttle.request(100.0)
    assert not throttle.pending
    assert not throttle.due(100.0)


def test_request_within_interval_suppressed_then_due_exactly_at_interval():
    throttle = KeyframeRequestThrottle(1.0)
    assert throttle.request(10.0)
    assert not throttle.request(10.2)
    assert not throttle.request(10.5)  # several suppressed requests collapse into one
    assert throttle.pending
    assert throttle.next_due_time() == 11.0
    assert not throttle.due(10.999)
    assert throttle.due(11.0)
    assert not throttle.due(11.0)  # once
    assert not throttle.due(50.0)
    assert throttle.sent == 2
    assert throttle.suppressed == 2


def test_due_send_restarts_interval():
    throttle = KeyframeRequestThrottle(1.0)
    throttle.request(0.0)
    throttle.request(0.5)
    assert throttle.due(1.25)
    assert not throttle.request(2.0)  # 0.75 s after the due send: suppressed
    assert not throttle.due(2.125)
    assert throttle.due(2.25)


def test_request_after_interval_sent_directly_and_clears_pending():
    throttle = KeyframeRequestThrottle(1.0)
    throttle.request(0.0)
    throttle.request(0.1)
    assert throttle.request(1.5)  # caller asks again after the interval: send now
    assert not throttle.pending
    assert not throttle.due(3.0)


def test_suppressed_request_never_lost_under_steady_requests():
    throttle = KeyframeRequestThrottle(1.0)
    sends = []
    now = 0.0
    for _ in range(100):  # a request every 100 ms, due() polled every 100 ms
        if throttle.request(now):
            sends.append(now)
        if throttle.due(now):
            sends.append(now)
        now = round(now + 0.1, 6)
    gaps = [b - a for a, b in itertools.pairwise(sends)]
    assert all(g >= 1.0 - 1e-9 for g in gaps)
    assert len(sends) >= 9
    # The last request (9.9 s) was suppressed; it is sent one interval after the last send.
    last_request = round(now - 0.1, 6)
    assert throttle.pending
    while throttle.pending:
        if throttle.due(now):
            sends.append(now)
        now = round(now + 0.1, 6)
    assert sends[-1] > last_request
    assert sends[-1] - sends[-2] < 1.0 + 0.1 + 1e-9


def test_keyframe_received_cancels_pending():
    throttle = KeyframeRequestThrottle(1.0)
    throttle.request(0.0)
    throttle.request(0.2)
    throttle.keyframe_received()
    assert not throttle.due(2.0)
    assert throttle.next_due_time() is None


def test_zero_interval_never_suppresses():
    throttle = KeyframeRequestThrottle(0.0)
    assert throttle.request(1.0)
    assert throttle.request(1.0)


def test_negative_interval_rejected():
    with pytest.raises(KeyframeThrottleError, match="min_interval"):
        KeyframeRequestThrottle(-1)


# The publisher's keyframe budget of issue 13: at most 2 requests in any second, and every
# request answered (a send at or after it, or a keyframe that arrived after it).
@settings(max_examples=300, deadline=None)
@given(
    requests=st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=60),
    keyframes=st.lists(st.floats(0, 10, allow_nan=False), max_size=10),
)
def test_at_most_two_requests_a_second_and_none_lost(requests: list[float], keyframes: list[float]) -> None:
    throttle = KeyframeRequestThrottle(0.5)  # the default of sfu.config
    events = sorted([(t, "request") for t in requests] + [(t, "keyframe") for t in keyframes])
    sends: list[float] = []
    answered_until = -1.0  # requests at or before this time are answered

    def poll(now: float) -> None:
        # the producer's timer fires exactly at next_due_time()
        nonlocal answered_until
        due = throttle.next_due_time()
        while due is not None and due <= now:
            assert throttle.due(due)
            sends.append(due)
            due = throttle.next_due_time()

    last_request = None
    for t, kind in events:
        poll(t)
        if kind == "request":
            last_request = t
            if throttle.request(t):
                sends.append(t)
        else:
            throttle.keyframe_received()
            answered_until = t
    poll(1e9)
    assert all(b - a >= 0.5 - 1e-9 for a, b in itertools.pairwise(sends))
    for i, t in enumerate(sends):  # any window of one second holds at most two sends
        assert sum(1 for u in sends[i:] if u - t < 1.0 - 1e-9) <= 2
    assert last_request is not None
    assert max(sends) >= last_request or answered_until >= last_request


def test_a_request_inside_the_window_goes_at_its_end():
    throttle = KeyframeRequestThrottle(0.5)
    assert throttle.request(1.0)
    assert not throttle.request(1.1)
    assert throttle.next_due_time() == 1.5
    assert throttle.due(1.5)
