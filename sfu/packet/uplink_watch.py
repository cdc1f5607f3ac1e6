"""Is a publisher's uplink the bottleneck? Sans I/O, time passed in.

The server already tells a video publisher what it receives (REMB, from the abs-send-time of
its packets), and the publisher's encoder follows it. When that estimate stays well below what
the publisher's picture needs (the bitrate a server rendition of that size is encoded at), the
people who see this publisher get a poor picture whatever their own links, and the publisher
should know (issue 15: ``quality`` with ``direction: "send"``).

``UplinkWatch.update(remb_bps, need_bps, now)`` answers the new state when it changes:
"limited" after the REMB stays below ``LIMITED_BELOW`` (half) of the need for ``HOLD_S``;
"good" again after it stays above ``GOOD_ABOVE`` (three quarters) for ``HOLD_S``. No REMB yet
(the first seconds), or no known need: no change.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

LIMITED_BELOW = 0.5
GOOD_ABOVE = 0.75
HOLD_S = 3.0

UplinkState: TypeAlias = Literal["good", "limited"]


class UplinkWatch:
    __slots__ = ("_since", "state")

    def __init__(self) -> None:
        self.state: UplinkState = "good"
        #: since when the other state's condition holds (None: it does not)
        self._since: float | None = None

    def update(self, remb_bps: int | None, need_bps: float | None, now: float) -> UplinkState | None:
        """The new state when it changed, else None."""
        if remb_bps is None or not need_bps:
            self._since = None
            return None
        if self.state == "good":
            other = remb_bps < LIMITED_BELOW * need_bps
        else:
            other = remb_bps >= GOOD_ABOVE * need_bps
        if not other:
            self._since = None
            return None
        if self._since is None:
            self._since = now
        if now - self._since < HOLD_S:
            return None
        self._since = None
        self.state = "limited" if self.state == "good" else "good"
        return self.state
