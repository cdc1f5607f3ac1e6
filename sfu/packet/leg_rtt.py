"""Round-trip time of one subscriber leg, from RTCP receiver reports (RFC 3550 §6.4.1).

Every sender report we send on the leg carries an NTP timestamp; the subscriber's next
receiver report echoes its middle 32 bits (LSR) and how long it held it (DLSR, 1/65536 s).
The round trip is then ``arrival - sent - DLSR``, measured on our monotonic clock alone: we
remember when each recent LSR left (a few of them, so a report that answers an older SR
still counts), so the subscriber's clock never enters the figure.

Before the first measurement :attr:`LegRttEstimator.rtt` is ``default`` (100 ms, the value
libwebrtc and mediasoup assume). Measurements are smoothed (EWMA, 1/8 new like RFC 6298) and
clamped to [``floor``, ``ceiling``]: a loopback round trip of 0.2 ms would otherwise allow a
resend per NACK again, and a report delayed by a stall must not freeze retransmissions.
"""

from __future__ import annotations

from collections import deque


class LegRttError(ValueError):
    """Invalid construction argument for a LegRttEstimator."""


#: How many recent sender reports are remembered (one a second: a few seconds of them).
REMEMBERED_REPORTS = 8


class LegRttEstimator:
    """Smoothed RTT of one leg; time is passed in (``now``, monotonic seconds)."""

    __slots__ = ("_ceiling", "_default", "_floor", "_sent", "_smoothed", "measurements")

    def __init__(self, *, default: float = 0.1, floor: float = 0.015, ceiling: float = 1.0) -> None:
        if not 0 < floor <= default <= ceiling:
            raise LegRttError(f"need 0 < floor <= default <= ceiling, got {floor!r}, {default!r}, {ceiling!r}")
        self._default = default
        self._floor = floor
        self._ceiling = ceiling
        self._sent: deque[tuple[int, float]] = deque(maxlen=REMEMBERED_REPORTS)
        self._smoothed: float | None = None
        self.measurements = 0

    @property
    def rtt(self) -> float:
        """The leg's round-trip time in seconds (``default`` until measured)."""
        if self._smoothed is None:
            return self._default
        return min(max(self._smoothed, self._floor), self._ceiling)

    @property
    def measured(self) -> bool:
        return self._smoothed is not None

    def on_sender_report_sent(self, ntp_timestamp: int, now: float) -> None:
        """We sent an SR carrying the 64-bit ``ntp_timestamp`` at ``now``."""
        self._sent.append(((ntp_timestamp >> 16) & 0xFFFFFFFF, now))

    def on_report_block(self, lsr: int, dlsr: int, now: float) -> float | None:
        """A report block about our SSRC arrived at ``now``; returns the sample, if any.

        ``lsr`` 0 means the subscriber has no SR of ours yet; an LSR we never sent (or
        forgot) is ignored, and so is a report whose DLSR exceeds the time since that SR
        left by more than its rounding (a broken report)."""
        if lsr == 0:
            return None
        for sent_lsr, sent_at in self._sent:
            if sent_lsr == lsr:
                sample = now - sent_at - dlsr / 65536.0
                if sample < -0.002:
                    return None
                sample = max(sample, 0.0)
                previous = self._smoothed
                self._smoothed = sample if previous is None else previous + (sample - previous) / 8
                self.measurements += 1
                return sample
        return None
