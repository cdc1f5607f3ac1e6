"""Audio taps: a read-only view of a producer's audio packets for media processors.

Captions subscribe a tap to each audio producer whose speaker has captions on. A tap is
called on the event loop for every RTP packet of the producer, in arrival order, with
the Opus payload as received (no decoding is done for it here: a tap decodes off the loop,
once). ``on_packet`` must return at once: hand the payload to a bounded queue and drop
rather than block.
"""

from __future__ import annotations

from typing import Protocol


class AudioTap(Protocol):
    def on_packet(self, payload: bytes, rtp_timestamp: int, sequence_number: int, arrival: float) -> None:
        """One RTP packet's payload (Opus, 48 kHz clock); ``arrival`` is time.monotonic()."""
        ...

    def on_close(self) -> None:
        """The producer is gone (unpublished or its participant left); no more packets."""
        ...
