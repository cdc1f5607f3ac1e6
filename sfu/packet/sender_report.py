"""RTP/wall-clock correspondence for Sender Reports on subscriber legs.

Each leg must send its own RTCP Sender Reports (its SSRC and timestamps are the server's), and
receivers use the (NTP, RTP) pair of each SR to align audio with video. The server cannot invent
that pair from its own arrival times without baking network jitter into lip sync, so it carries
the publisher's: ``SenderReportClock`` remembers the publisher's last SR for a producer stream
and answers "which source RTP timestamp corresponds to wall time T" (``rtp_at``). The shell then
maps that timestamp through the leg's current offset (``LegRewriter.map_ts``) and sends
``(T, mapped)`` in the leg's SR. Before the first SR the last packet's arrival is the reference.

Clock domains: the SR's NTP time is the publisher's wall clock. When the shell passes
``received_at_ntp`` (its own NTP time when the SR arrived), the clock uses that instead, which
keeps legs consistent with the server's clock even when the publisher's is off by seconds; audio
and video of one publisher then differ only by the SRs' network jitter (small packets). Without
it the publisher's clock is assumed to be the server's (true in tests on one machine).

NTP timestamps are 64-bit ints: seconds since 1900 in the high 32 bits, fraction in the low.
"""

import math

from .seqnum import TS_MASK

NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
_NTP_ONE_SECOND = 1 << 32


class SenderReportError(ValueError):
    """Invalid argument for the Sender Report helpers."""


def ntp_from_unix(t: float) -> int:
    """64-bit NTP timestamp for Unix time ``t`` (seconds)."""
    # Seconds and fraction apart: a float holding the whole 64-bit value would lose ~0.5 us.
    seconds = math.floor(t)
    fraction = round((t - seconds) * _NTP_ONE_SECOND)
    return (((seconds + NTP_UNIX_OFFSET) << 32) + fraction) & 0xFFFFFFFFFFFFFFFF


def unix_from_ntp(n: int) -> float:
    """Unix time (seconds) of a 64-bit NTP timestamp."""
    return n / _NTP_ONE_SECOND - NTP_UNIX_OFFSET


class SenderReportClock:
    """Source RTP timestamp at a given wall time, for one producer stream."""

    __slots__ = ("_clock_rate", "_pkt_ntp", "_pkt_rtp", "_sr_ntp", "_sr_rtp", "reports")

    def __init__(self, clock_rate: int) -> None:
        if not isinstance(clock_rate, int) or clock_rate <= 0:
            raise SenderReportError(f"clock_rate must be a positive int, got {clock_rate!r}")
        self._clock_rate = clock_rate
        self._sr_ntp: int | None = None
        self._sr_rtp = 0
        self._pkt_ntp: int | None = None
        self._pkt_rtp = 0
        self.reports = 0

    @property
    def has_sender_report(self) -> bool:
        return self._sr_ntp is not None

    def on_sender_report(self, ntp: int, rtp_ts: int, received_at_ntp: int | None = None) -> None:
        """The publisher's SR said: at wall time ``ntp`` its RTP clock read ``rtp_ts``."""
        self._sr_ntp = ntp if received_at_ntp is None else received_at_ntp
        self._sr_rtp = rtp_ts & TS_MASK
        self.reports += 1

    def on_packet(self, rtp_ts: int, now_ntp: int) -> None:
        """A packet with timestamp ``rtp_ts`` arrived at ``now_ntp`` (fallback reference)."""
        self._pkt_rtp = rtp_ts
        self._pkt_ntp = now_ntp

    def rtp_at(self, ntp_now: int) -> int | None:
        """The source RTP timestamp for wall time ``ntp_now``, or None with no reference yet."""
        if self._sr_ntp is not None:
            ref_ntp, ref_rtp = self._sr_ntp, self._sr_rtp
        elif self._pkt_ntp is not None:
            ref_ntp, ref_rtp = self._pkt_ntp, self._pkt_rtp
        else:
            return None
        # Exact integer arithmetic: NTP ticks (2**-32 s) to RTP ticks, rounded to nearest.
        delta = ((ntp_now - ref_ntp) * self._clock_rate + (_NTP_ONE_SECOND >> 1)) >> 32
        return (ref_rtp + delta) & TS_MASK

    def reset(self) -> None:
        """Forget every reference (e.g. the publisher's SSRC changed)."""
        self._sr_ntp = None
        self._pkt_ntp = None


class LegSenderStats:
    """Sender's packet and octet counts of one leg, for its Sender Reports (RFC 3550 6.4.1).

    Both counters wrap at 2**32 as the SR fields do. ``octet_count`` counts payload octets only
    (no header, no padding), as the RFC defines.
    """

    __slots__ = ("octet_count", "packet_count")

    def __init__(self) -> None:
        self.packet_count = 0
        self.octet_count = 0

    def on_sent(self, payload_len: int) -> None:
        self.packet_count = (self.packet_count + 1) & 0xFFFFFFFF
        self.octet_count = (self.octet_count + payload_len) & 0xFFFFFFFF

    def reset(self) -> None:
        """New SSRC: the RFC says the counts restart."""
        self.packet_count = 0
        self.octet_count = 0
