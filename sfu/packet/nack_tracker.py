"""Upstream loss detection for one publisher stream: which sequence numbers to NACK, when.

``on_packet`` is called for every packet received from the publisher (originals and
retransmissions alike). A forward jump marks the sequence numbers in between as missing; a
missing one that arrives later (late or retransmitted) is counted as recovered. ``due`` returns
what to NACK now: a new gap on the next call, then retries every ``retry_interval`` (a fixed
interval: as a receiver-only endpoint on the publish connection we cannot measure the
publisher's round trip without RTCP XR), at most ``max_retries`` times per packet. A packet still missing after
``max_age`` is counted lost and forgotten. When more than ``max_missing`` packets are missing
at once, NACKing is pointless (the retransmissions would arrive after the frame is due): the
tracker forgets them all and raises ``needs_keyframe`` once, so the shell sends a PLI instead.

The common case (no loss) costs a couple of int operations per packet; the missing table is a
dict bounded by ``max_missing``.
"""

from .seqnum import SEQ_HALF, SEQ_MASK

# A packet this far behind the newest is not late but a restarted sequence (a real network
# reorders by tens of packets, not thousands).
_RESTART_DISTANCE = 3000


class NackTrackerError(ValueError):
    """Invalid construction argument for a NackTracker."""


class _Missing:
    __slots__ = ("detected_at", "next_send_at", "sends")

    def __init__(self, detected_at: float) -> None:
        self.detected_at = detected_at
        self.next_send_at = detected_at
        self.sends = 0


class NackTracker:
    """Tracks missing upstream packets of one RTP stream and schedules NACKs for them."""

    __slots__ = (
        "_highest",
        "_max_age",
        "_max_missing",
        "_max_retries",
        "_missing",
        "_needs_keyframe",
        "_retry_interval",
        "keyframes_requested",
        "lost",
        "nacks_sent",
        "recovered",
    )

    def __init__(
        self,
        *,
        retry_interval: float = 0.03,
        max_retries: int = 3,
        max_age: float = 0.5,
        max_missing: int = 256,
    ) -> None:
        if retry_interval <= 0:
            raise NackTrackerError(f"retry_interval must be > 0, got {retry_interval!r}")
        if not isinstance(max_retries, int) or max_retries < 1:
            raise NackTrackerError(f"max_retries must be an int >= 1, got {max_retries!r}")
        if max_age <= 0:
            raise NackTrackerError(f"max_age must be > 0, got {max_age!r}")
        if not isinstance(max_missing, int) or not 1 <= max_missing < SEQ_HALF:
            raise NackTrackerError(
                f"max_missing must be an int in [1, {SEQ_HALF - 1}], got {max_missing!r}"
            )
        self._retry_interval = retry_interval
        self._max_retries = max_retries
        self._max_age = max_age
        self._max_missing = max_missing
        self._highest: int | None = None
        self._missing: dict[int, _Missing] = {}
        self._needs_keyframe = False
        self.nacks_sent = 0
        self.recovered = 0
        self.lost = 0
        self.keyframes_requested = 0

    @property
    def retry_interval(self) -> float:
        return self._retry_interval

    @property
    def missing_count(self) -> int:
        return len(self._missing)

    @property
    def needs_keyframe(self) -> bool:
        """True once after the loss overflowed ``max_missing``; reading it clears it."""
        if self._needs_keyframe:
            self._needs_keyframe = False
            return True
        return False

    def on_packet(self, seq: int, now: float) -> bool:
        """A packet with sequence number ``seq`` arrived from the publisher.

        True when the shell has work: packets are missing (``due`` has NACKs for them) or
        the loss overflowed and ``needs_keyframe`` is set."""
        highest = self._highest
        if highest is None:
            self._highest = seq
            return False
        diff = ((seq - highest + SEQ_HALF) & SEQ_MASK) - SEQ_HALF
        if diff == 1:
            self._highest = seq
            return bool(self._missing)
        if diff <= 0:
            if diff < -_RESTART_DISTANCE:
                # Far behind anything a network reorders: the publisher restarted its sequence.
                self.lost += len(self._missing)
                self._missing.clear()
                self._highest = seq
                return False
            if self._missing and self._missing.pop(seq, None) is not None:
                self.recovered += 1
            return bool(self._missing)
        self._highest = seq
        gap = diff - 1
        if len(self._missing) + gap > self._max_missing:
            self.lost += len(self._missing) + gap
            self._missing.clear()
            self._needs_keyframe = True
            self.keyframes_requested += 1
            return True
        missing = self._missing
        for i in range(1, diff):
            missing[(highest + i) & SEQ_MASK] = _Missing(now)
        return bool(missing)

    def due(self, now: float) -> list[int]:
        """Sequence numbers to NACK now (in arrival order); counts them as sent."""
        if not self._missing:
            return []
        result: list[int] = []
        expired: list[int] = []
        for seq, entry in self._missing.items():
            if now - entry.detected_at >= self._max_age:
                expired.append(seq)
            elif entry.sends < self._max_retries and now >= entry.next_send_at:
                entry.sends += 1
                entry.next_send_at = now + self._retry_interval
                result.append(seq)
        for seq in expired:
            del self._missing[seq]
        self.lost += len(expired)
        self.nacks_sent += len(result)
        return result

    def next_due_time(self) -> float | None:
        """Earliest time at which ``due`` has work (a send or an expiry), None when idle."""
        earliest: float | None = None
        for entry in self._missing.values():
            t = entry.detected_at + self._max_age
            if entry.sends < self._max_retries and entry.next_send_at < t:
                t = entry.next_send_at
            if earliest is None or t < earliest:
                earliest = t
        return earliest

    def reset(self) -> None:
        """Forget the stream position and every missing packet (e.g. the SSRC changed)."""
        self._highest = None
        self._missing.clear()

    def stats(self) -> dict[str, int]:
        return {
            "nacks_sent": self.nacks_sent,
            "recovered": self.recovered,
            "lost": self.lost,
            "missing": len(self._missing),
            "keyframes_requested": self.keyframes_requested,
        }
