"""Resends per lost packet on a synthetic lossy, reordering link, against aiortc's own NACK
generator (the receiver that NACKs on reordering): at most one resend per round trip."""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

import pytest
from aiortc.rtcrtpreceiver import NackGenerator
from aiortc.rtp import RtpPacket

from sfu.packet.leg_repair import EAGER_MEMORY_S, LegRepair
from sfu.packet.leg_rtt import LegRttEstimator
from sfu.packet.sender_report import ntp_from_unix


@dataclass
class LinkResult:
    lost: int  # packets (originals and resends) the link dropped
    resent: int
    suppressed: int
    never_received: int


def simulate(repair: LegRepair, *, seed: int = 5, packets: int = 3000, rate: float = 300.0) -> LinkResult:
    """Send ``packets`` at ``rate``/s over 5 % loss and 30 +- 10 ms independent delay (so
    packets overtake each other); NACKs come back in 2 ms over a clean link."""
    rng = random.Random(seed)
    events: list[tuple[float, int, str, object]] = []
    order = 0

    def push(at: float, kind: str, what: object) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (at, order, kind, what))

    lost = 0

    def over_link(seq: int, now: float) -> None:
        nonlocal lost
        if rng.random() < 0.05:
            lost += 1
        else:
            push(now + rng.uniform(0.020, 0.040), "arrive", seq)

    for i in range(packets):
        push(i / rate, "send", i)
    receiver = NackGenerator()
    received: set[int] = set()
    while events:
        now, _, kind, what = heapq.heappop(events)
        if kind == "send":
            seq = int(what)  # type: ignore[call-overload]
            repair.store(seq, seq.to_bytes(2, "big"), now)
            over_link(seq, now)
        elif kind == "arrive":
            seq = int(what)  # type: ignore[call-overload]
            received.add(seq)
            if receiver.add(RtpPacket(sequence_number=seq)):
                push(now + 0.002, "nack", sorted(receiver.missing))
        else:
            for data in repair.on_nack(what, now):  # type: ignore[arg-type]
                over_link(int.from_bytes(data, "big"), now)
    return LinkResult(lost, repair.resent, repair.suppressed, packets - len(received))


def _measured_rtt(seconds: float) -> LegRttEstimator:
    rtt = LegRttEstimator()
    ntp = ntp_from_unix(1000.0)
    rtt.on_sender_report_sent(ntp, now=0.0)
    rtt.on_report_block((ntp >> 16) & 0xFFFFFFFF, 0, now=seconds)
    return rtt


def _fixed_interval(seconds: float) -> LegRttEstimator:
    return LegRttEstimator(floor=seconds, default=seconds, ceiling=seconds)


def test_resending_on_every_nack_multiplies_the_loss():
    # What the server did before: every NACKed sequence number resent, at most every 15 ms.
    before = simulate(LegRepair(512, rtt=_fixed_interval(0.015)))
    assert before.resent > 4 * before.lost, before


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_an_eager_receiver_gets_about_one_resend_per_lost_packet(seed: int):
    before = simulate(LegRepair(512, rtt=_fixed_interval(0.015)), seed=seed)
    repair = LegRepair(512, rtt=_measured_rtt(0.032))
    after = simulate(repair, seed=seed)
    assert after.resent < 1.5 * after.lost, after
    assert after.suppressed > after.resent, after
    assert repair.eager_detections >= 1
    # as well repaired: only the last packets (no later packet reveals their loss) may stay missing
    assert after.never_received <= before.never_received + 3, (after, before)


def test_the_default_round_trip_applies_before_any_report():
    result = simulate(LegRepair(512))
    assert result.resent < 1.5 * result.lost, result
    assert result.never_received <= 3, result


def test_a_patient_receiver_is_answered_at_once_and_once():
    """A receiver that NACKs a gap once and retries every 100 ms (libwebrtc's way), on a
    link that loses but does not reorder: every loss resent on its first NACK."""
    rng = random.Random(3)
    repair = LegRepair(512, rtt=_measured_rtt(0.032))
    events: list[tuple[float, int, str, int]] = []
    order = 0

    def push(at: float, kind: str, seq: int) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (at, order, kind, seq))

    sent_at: dict[int, float] = {}
    repaired_after: list[float] = []
    lost = 0
    for i in range(1500):
        push(i / 300, "send", i)
    highest = -1
    missing: dict[int, float] = {}  # seq -> when last NACKed
    next_retry_check = 0.0
    while events:
        now, _, kind, seq = heapq.heappop(events)
        if kind == "send":
            sent_at[seq] = now
            repair.store(seq, bytes(2), now)
            if rng.random() < 0.05:
                lost += 1
            else:
                push(now + 0.030, "arrive", seq)
        elif kind == "arrive":
            if seq in missing:
                del missing[seq]
                repaired_after.append(now - sent_at[seq])
            elif seq > highest:
                gap = list(range(highest + 1, seq))
                highest = seq
                if gap:
                    for s in gap:
                        missing[s] = now
                    push(now + 0.002, "nack", gap[0] * 65536 + len(gap))
            if now >= next_retry_check:
                next_retry_check = now + 0.02
                due = [s for s, at in missing.items() if now - at >= 0.1]
                for s in due:
                    missing[s] = now
                    push(now + 0.002, "nack", s * 65536 + 1)
        else:
            first, count = divmod(seq, 65536)
            for s in range(first, first + count):
                if repair.on_nack([s], now):
                    push(now + 0.030, "arrive", s)
    assert repair.eager_detections == 0
    assert repair.resent == lost, (repair.resent, lost)
    # each repair arrives one round trip (+ the wait for the next packet) after the loss
    assert max(repaired_after) < 0.030 + 0.064 + 0.005, max(repaired_after)


def test_a_resend_lost_again_is_resent_after_a_round_trip():
    repair = LegRepair(16, rtt=_measured_rtt(0.05))
    repair.store(7, b"seven", 0.0)
    assert repair.on_nack([7], 0.10) == [b"seven"]
    assert repair.on_nack([7], 0.12) == []  # in flight: the receiver cannot have it yet
    assert repair.on_nack([7], 0.1501) == [b"seven"]
    assert (repair.resent, repair.suppressed) == (2, 1)
    stats = repair.stats()
    assert stats["rtt_ms"] == 50.0 and stats["rtt_measured"] is True


def test_a_fast_repeat_makes_the_receiver_eager_for_a_while():
    repair = LegRepair(64, rtt=_measured_rtt(0.04))
    for seq in range(10):
        repair.store(seq, bytes([seq]), 0.0)
    assert repair.on_nack([1], 0.010) == [bytes([1])]  # first NACK: answered at once
    assert not repair.eager(0.010)
    assert repair.on_nack([1], 0.015) == []  # again 5 ms later (< RTT/2): eager
    assert repair.eager(0.015)
    # now a first NACK waits until the original is 1.5 RTT (60 ms) old
    assert repair.on_nack([2], 0.030) == []
    assert repair.on_nack([2], 0.061) == [bytes([2])]
    assert not repair.eager(0.015 + EAGER_MEMORY_S)


def test_report_blocks_reach_the_estimator():
    repair = LegRepair(16)
    ntp = ntp_from_unix(77.0)
    repair.on_sender_report_sent(ntp, 10.0)
    repair.on_report_block((ntp >> 16) & 0xFFFFFFFF, int(0.2 * 65536), 10.26)
    assert abs(repair.rtt.rtt - 0.06) < 1e-3
