"""Loss repair on one subscriber leg: answer NACKs from the leg's cache, each sequence
number at most once per round trip.

Two rules, both in units of this leg's round trip (from its receiver reports, see
:mod:`.leg_rtt`; 100 ms until the first one):

* **Once per round trip.** A resend still in flight cannot have been received, so a sequence
  number is resent only when its last resend is at least one round trip old, as libwebrtc
  (``RtpPacketHistory::VerifyRtt``) and mediasoup (``RtpStreamSend``) do. NACKs refused by a
  rule are counted as suppressed.
* **Eager receivers wait for the reordering to settle.** Some receivers NACK a packet the
  moment a later one arrives and then again on every new gap (aiortc NACKs its whole missing
  set each time): on a link that reorders, most of their NACKs name packets that are merely
  late, and resending those sent 5.7-8.8 packets per packet actually lost. We recognise such
  a receiver by its NACKs: it names the same packet again within half a round trip (a
  receiver that waits for the answer, like libwebrtc's, which retries once per round trip,
  never does). For ``EAGER_MEMORY_S`` after that, a packet's first resend waits until the
  original is ``EAGER_HOLD_RTT`` round trips old; a packet still missing then is NACKed
  again by that same receiver within a few packets, and is resent. Receivers that wait keep
  the immediate first resend.
"""

from __future__ import annotations

from collections.abc import Iterable

from .leg_rtt import LegRttEstimator
from .packet_cache import PacketCache

#: How long a receiver that repeated a NACK within half a round trip is treated as eager.
EAGER_MEMORY_S = 10.0
#: An eager receiver's first resend of a packet waits until the original is this many
#: round trips old: one for the NACK's own round trip, half of one for delay variation.
EAGER_HOLD_RTT = 1.5


class LegRepair:
    """Packet cache + round-trip estimate of one leg; time passed in as ``now``."""

    __slots__ = ("_cache", "_eager_until", "eager_detections", "resent", "rtt", "suppressed")

    def __init__(self, capacity: int, *, max_age: float = 1.0, rtt: LegRttEstimator | None = None) -> None:
        self._cache = PacketCache(capacity, max_age=max_age)
        self.rtt = rtt or LegRttEstimator()
        self._eager_until = float("-inf")
        #: packets resent, and resends refused by one of the two rules
        self.resent = 0
        self.suppressed = 0
        self.eager_detections = 0

    def eager(self, now: float) -> bool:
        """The receiver repeated a NACK within half a round trip in the last ``EAGER_MEMORY_S``."""
        return now < self._eager_until

    def store(self, seq: int, data: bytes, now: float) -> None:
        """A packet left on the leg with outgoing sequence number ``seq``."""
        self._cache.store(seq, data, now)

    def newest(self, count: int) -> list[bytes]:
        """Up to ``count`` of the packets sent last on the leg, newest first."""
        return self._cache.newest(count)

    def on_nack(self, lost: Iterable[int], now: float) -> list[bytes]:
        """The packets to resend for one NACK's sequence numbers (in its order)."""
        cache = self._cache
        rtt = self.rtt.rtt
        hold = EAGER_HOLD_RTT * rtt if now < self._eager_until else 0.0
        fast_repeat = rtt / 2
        out: list[bytes] = []
        suppressed_before = cache.suppressed
        for seq in lost:
            data = cache.get_for_nack(seq, now, rtt, hold)
            gap = cache.last_repeat_gap
            if gap is not None and gap < fast_repeat:
                if now >= self._eager_until:
                    self.eager_detections += 1
                    hold = EAGER_HOLD_RTT * rtt  # from this NACK's next packet on
                self._eager_until = now + EAGER_MEMORY_S
            if data is not None:
                out.append(data)
        self.resent += len(out)
        self.suppressed += cache.suppressed - suppressed_before
        return out

    def on_sender_report_sent(self, ntp_timestamp: int, now: float) -> None:
        self.rtt.on_sender_report_sent(ntp_timestamp, now)

    def on_report_block(self, lsr: int, dlsr: int, now: float) -> None:
        self.rtt.on_report_block(lsr, dlsr, now)

    def stats(self, now: float | None = None) -> dict[str, object]:
        cache = self._cache.stats()
        return {
            "rtt_ms": round(self.rtt.rtt * 1000, 1),
            "rtt_measured": self.rtt.measured,
            "resent": self.resent,
            "suppressed": self.suppressed,
            "eager_detections": self.eager_detections,
            "cache_misses": cache["misses"],
            "cache_expired": cache["expired"],
        }
