"""Process-wide counters of the media plane, read by /metrics and by tests.

Plain integer attributes: incrementing one is the cheapest thing Python can do on
the packet path. Gauges (rooms, participants, ...) are computed from the live objects.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class SfuCounters:
    rtp_packets_received: int = 0
    rtp_packets_forwarded: int = 0
    rtp_bytes_forwarded: int = 0
    nacks_received: int = 0
    nacks_sent: int = 0
    retransmissions: int = 0
    plis_received: int = 0
    plis_sent: int = 0
    frames_decoded: int = 0
    frames_encoded: int = 0
    frames_dropped: int = 0
    renditions_started: int = 0
    renditions_stopped: int = 0
    #: NACKed packets not resent: their last resend is less than the leg's round trip old
    retransmissions_suppressed: int = 0
    #: a subscriber's video switched by its link's bandwidth estimate (issue 15)
    adaptation_switches_up: int = 0
    adaptation_switches_down: int = 0
    #: video legs whose first picture came from the source's recent keyframe, sent at connect
    legs_started_from_cached_keyframe: int = 0
    #: NACKed packets not resent because their subscriber link's send budget was spent (issue 15)
    retransmissions_over_budget: int = 0
    #: bytes of the retransmissions sent to subscribers
    rtp_bytes_retransmitted: int = 0
    #: padding probes before an up-switch (issue 15): the link carried the better picture's
    #: rate, or not; and the bytes of padding sent (duplicates of recent packets)
    padding_probes_passed: int = 0
    padding_probes_failed: int = 0
    padding_bytes_sent: int = 0

    def dump(self) -> dict[str, int]:
        return asdict(self)
