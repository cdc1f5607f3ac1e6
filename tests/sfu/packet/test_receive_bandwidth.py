"""ReceiveBandwidthEstimator answers exactly what aiortc's RemoteBitrateEstimator answers
(with RateWindow swapped in, as the server runs it), call by call: on random packet
sequences (bursts, reordering, 24-bit wraps, gaps over a second, several SSRCs) and on
packets through a simulated bottleneck whose queue builds up and drains (overuse ->
decrease, underuse -> hold, recovery -> increase, near the maximum -> additive increase)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from itertools import pairwise

from aiortc.rate import RemoteBitrateEstimator
from hypothesis import given, settings
from hypothesis import strategies as st

from sfu.packet.rate_window import RateWindow
from sfu.packet.receive_bandwidth import OVERUSING, UNDERUSING, ReceiveBandwidthEstimator

ABS_SEND_TIME_UNITS_PER_S = 1 << 18  # 6.18 fixed point seconds, 24 bits
ABS_SEND_TIME_MASK = 0xFFFFFF

# (arrival_time_ms, abs_send_time, payload_size, ssrc)
Packet = tuple[int, int, int, int]
Answer = tuple[int, list[int]] | None


def aiortc_estimator() -> RemoteBitrateEstimator:
    theirs = RemoteBitrateEstimator()
    theirs.incoming_bitrate = RateWindow(1000, 8000)  # type: ignore[assignment]
    return theirs


def internal_state(ours: ReceiveBandwidthEstimator) -> tuple[object, ...]:
    """Our filter, detector and rate-control state, to be bit-identical to aiortc's
    (a float computed in another order shows here long before it flips an answer)."""
    return (
        ours._slope,
        ours._offset,
        (ours._e00, ours._e01, ours._e10, ours._e11),
        ours._avg_noise,
        ours._var_noise,
        ours._num_of_deltas,
        ours._threshold,
        ours._overuse_time,
        ours._overuse_counter,
        ours._current_bitrate,
        ours._avg_max_bitrate_kbps,
        ours._var_max_bitrate_kbps,
        ours._near_max,
        ours._rate_state,
    )


def aiortc_internal_state(theirs: RemoteBitrateEstimator) -> tuple[object, ...]:
    estimator, detector, control = theirs.estimator, theirs.detector, theirs.rate_control
    return (
        estimator.slope,
        estimator._offset,
        (estimator.E[0][0], estimator.E[0][1], estimator.E[1][0], estimator.E[1][1]),
        estimator.avg_noise,
        estimator.var_noise,
        estimator._num_of_deltas,
        detector.threshold,
        detector.overuse_time,
        detector.overuse_counter,
        control.current_bitrate,
        control.avg_max_bitrate_kbps,
        control.var_max_bitrate_kbps,
        control.near_max,
        control.state.value,
    )


def run_both(packets: Iterable[Packet]) -> tuple[list[Answer], list[int]]:
    """Feed both estimators; every answer must be equal. Our answers and hypotheses."""
    ours, theirs = ReceiveBandwidthEstimator(), aiortc_estimator()
    answers: list[Answer] = []
    hypotheses: list[int] = []
    for arrival_time_ms, abs_send_time, payload_size, ssrc in packets:
        kwargs = {
            "arrival_time_ms": arrival_time_ms,
            "abs_send_time": abs_send_time,
            "payload_size": payload_size,
            "ssrc": ssrc,
        }
        try:
            expected = theirs.add(**kwargs)
        except ZeroDivisionError:  # aiortc's near-max increase at a 0 bit/s estimate
            try:
                ours.add(**kwargs)
            except ZeroDivisionError:
                return answers, hypotheses
            raise AssertionError("aiortc raised ZeroDivisionError, we did not") from None
        answer = ours.add(**kwargs)
        assert answer == expected, (len(answers), kwargs)
        assert ours.hypothesis == theirs.detector.state().value
        assert internal_state(ours) == aiortc_internal_state(theirs), len(answers)
        answers.append(answer)
        hypotheses.append(ours.hypothesis)
    return answers, hypotheses


# --- random packet sequences ---------------------------------------------------------

# (arrival gap ms, abs-send-time step in 1/2^18 s, payload bytes, ssrc index)
random_steps = st.lists(
    st.tuples(
        st.one_of(st.integers(0, 40), st.integers(0, 1500)),
        st.one_of(
            st.just(0),
            st.integers(-3000, 12000),
            st.integers(0, ABS_SEND_TIME_MASK),  # anything, wraps included
        ),
        st.integers(0, 1500),
        st.integers(0, 2),
    ),
    min_size=1,
    max_size=400,
)


@settings(max_examples=300, deadline=None)
@given(
    steps=random_steps,
    start_ms=st.integers(0, 10**9),
    start_send=st.integers(0, ABS_SEND_TIME_MASK),
    ssrcs=st.lists(st.integers(0, 2**32 - 1), min_size=3, max_size=3, unique=True),
)
def test_random_sequences_match_aiortc(
    steps: list[tuple[int, int, int, int]], start_ms: int, start_send: int, ssrcs: list[int]
) -> None:
    now, send = start_ms, start_send
    packets = []
    for gap, send_step, size, ssrc_index in steps:
        now += gap
        send = (send + send_step) & ABS_SEND_TIME_MASK
        packets.append((now, send, size, ssrcs[ssrc_index]))
    run_both(packets)


# --- packets through a bottleneck ------------------------------------------------------


def through_bottleneck(
    phases: Sequence[tuple[float, int, int]],
    seed: int,
    start_s: float = 1000.0,
    fps: int = 30,
    packets_per_frame: int = 4,
    reorder: float = 0.0,
    jitter_ms: tuple[int, ...] = (0, 0, 1, 2),
    frame_wobble: float = 0.0,
) -> list[Packet]:
    """A video stream through a FIFO bottleneck: phases of (seconds, send kbit/s, link kbit/s).

    Sent faster than the link, the queue (and the delay) builds up; slower, it drains.
    Each frame's packets share a send time; arrivals get ``jitter_ms`` (one picked per packet);
    frame intervals vary by up to ``frame_wobble`` of the nominal one.
    """
    rng = random.Random(seed)
    packets: list[Packet] = []
    send_s, link_free_s, last_arrival_ms = start_s, 0.0, 0
    for seconds, send_kbps, link_kbps in phases:
        for _ in range(round(seconds * fps)):
            frame_bytes = max(packets_per_frame, round(send_kbps * 1000 / 8 / fps))
            abs_send_time = int(send_s * ABS_SEND_TIME_UNITS_PER_S) & ABS_SEND_TIME_MASK
            for _ in range(packets_per_frame):
                size = frame_bytes // packets_per_frame
                link_free_s = max(link_free_s, send_s + 0.02) + size * 8 / (link_kbps * 1000)
                arrival_ms = int(link_free_s * 1000) + rng.choice(jitter_ms)
                last_arrival_ms = max(last_arrival_ms, arrival_ms)  # the receiver's clock
                packets.append((last_arrival_ms, abs_send_time, size, 0x1234))
            send_s += (1 + rng.uniform(-frame_wobble, frame_wobble)) / fps
    for i in range(len(packets) - 1):
        if rng.random() < reorder:  # swap two neighbours' send times and sizes
            (a0, s0, z0, c0), (a1, s1, z1, c1) = packets[i], packets[i + 1]
            packets[i], packets[i + 1] = (a0, s1, z1, c0), (a1, s0, z0, c1)
    return packets


def remb_values(answers: list[Answer]) -> list[int]:
    return [answer[0] for answer in answers if answer is not None]


def test_overuse_decreases_then_recovery_increases() -> None:
    phases = [
        (6.0, 1000, 3000),  # under capacity: initialise after 3 s, then increase
        (3.0, 4000, 2000),  # twice the link: the queue builds up -> overuse -> decrease
        (3.0, 500, 2000),  # the queue drains -> underuse -> hold
        (15.0, 1000, 3000),  # steady again -> increase, additive near the maximum
    ]
    packets = through_bottleneck(phases, seed=1)
    answers, hypotheses = run_both(packets)
    values = remb_values(answers)
    assert len(values) > 20
    assert OVERUSING in hypotheses and UNDERUSING in hypotheses
    decreases = [i for i in range(1, len(values)) if values[i] < values[i - 1]]
    increases = [i for i in range(1, len(values)) if values[i] > values[i - 1]]
    assert decreases and increases
    assert increases[-1] > decreases[0]  # it recovered after the decrease
    # the decrease answers 85 % of a throughput the link could carry: below 2 Mbit/s
    assert min(values) < 2_000_000


def test_overuse_before_initialisation() -> None:
    answers, hypotheses = run_both(through_bottleneck([(4.0, 4000, 1000), (4.0, 300, 1000)], 2))
    first_overuse = hypotheses.index(OVERUSING)
    assert first_overuse < 3 * 30 * 4  # within the first three seconds
    assert remb_values(answers[: first_overuse + 1])  # answered at once, not initialised yet


def test_throughput_far_above_and_below_the_estimated_maximum() -> None:
    phases = [
        (5.0, 2000, 2500),
        (2.0, 5000, 2500),  # overuse at about 2.5 Mbit/s: the estimated maximum
        (2.0, 200, 2500),
        (8.0, 6000, 20000),  # far above that maximum: forgotten, multiplicative again
        (3.0, 1500, 300),  # overuse at a far lower throughput: the maximum forgotten
        (4.0, 100, 300),
        (6.0, 250, 300),
    ]
    answers, hypotheses = run_both(through_bottleneck(phases, seed=3))
    assert hypotheses.count(OVERUSING) > 1
    assert remb_values(answers)


@settings(max_examples=60, deadline=None)
@given(
    phases=st.lists(
        st.tuples(
            st.sampled_from([0.5, 1.0, 2.0, 4.0]),
            st.sampled_from([30, 300, 1000, 2500, 6000]),
            st.sampled_from([500, 1500, 3000, 10000]),
        ),
        min_size=1,
        max_size=6,
    ),
    seed=st.integers(0, 2**32 - 1),
    packets_per_frame=st.sampled_from([1, 4, 7]),
    reorder=st.sampled_from([0.0, 0.02]),
    fps=st.sampled_from([15, 30, 60]),
    frame_wobble=st.sampled_from([0.0, 0.5, 0.9]),
)
def test_random_bottlenecks_match_aiortc(
    phases: list[tuple[float, int, int]],
    seed: int,
    packets_per_frame: int,
    reorder: float,
    fps: int,
    frame_wobble: float,
) -> None:
    packets = through_bottleneck(
        phases, seed, fps=fps, packets_per_frame=packets_per_frame, reorder=reorder, frame_wobble=frame_wobble
    )
    run_both(packets)


def test_send_time_wraps_mid_stream() -> None:
    # 2^24 units of abs-send-time are 64 s: start 2 s before the wrap.
    start_s = (ABS_SEND_TIME_MASK + 1) / ABS_SEND_TIME_UNITS_PER_S * 100 - 2.0
    phases = [(5.0, 1000, 3000), (2.0, 4000, 2000), (3.0, 800, 3000)]
    packets = through_bottleneck(phases, seed=4, start_s=start_s)
    assert any(b[1] < a[1] for a, b in pairwise(packets))
    answers, _ = run_both(packets)
    assert remb_values(answers)


def test_several_ssrcs_listed_in_first_seen_order() -> None:
    packets = [
        (arrival, send, size, ssrc)
        for (arrival, send, size, _), ssrc in zip(
            through_bottleneck([(5.0, 1000, 3000)], seed=5), [7, 3, 9, 3] * 10000, strict=False
        )
    ]
    answers, _ = run_both(packets)
    assert [answer[1] for answer in answers if answer is not None][-1] == [7, 3, 9]


def test_a_pause_over_a_second_resets_the_incoming_rate() -> None:
    before = through_bottleneck([(5.0, 1000, 3000)], seed=6)
    after = through_bottleneck([(5.0, 1000, 3000)], seed=7, start_s=1007.0)
    answers, _ = run_both(before + after)
    assert remb_values(answers)


def test_a_stream_without_jitter() -> None:
    # no noise at all: the noise variance reaches its floor
    answers, hypotheses = run_both(through_bottleneck([(30.0, 600, 3000)], seed=8, jitter_ms=(0,)))
    assert remb_values(answers)
    assert set(hypotheses) == {0}
