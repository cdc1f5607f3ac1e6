"""Whether to ask a publisher to send a smaller picture (issue 15, item 3): sans-I/O.

When every subscriber of a video is capped below what the publisher sends (by its own
``subscription`` cap or by its link's adaptation limit), the full-size picture crosses the
publisher's uplink only to be decoded and scaled down by us. :class:`UpstreamRequest` turns the
largest height any leg needs (``RenditionDemand.largest_needed_height``) into the
``max_height`` the publisher is asked for, or ``None`` ("your full size again").

Hysteresis, so a publisher's encoder is not reconfigured back and forth:

* asking for *less* waits until the smaller need has held for ``DOWN_HOLD_S`` (a subscriber
  resizing a tile, or an adaptation switch, settles first); the height asked is the largest
  need seen while waiting;
* asking for *more* (or for the full size) is immediate: a subscriber is waiting for a
  bigger picture, and the publisher's own camera size is the limit anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

#: How long a smaller need must hold before the publisher is asked to send less.
DOWN_HOLD_S = 3.0


@dataclass(frozen=True)
class HeightRequest:
    """Ask the publisher for at most ``max_height`` (None: no limit, its full size)."""

    max_height: int | None


class UpstreamRequest:
    """One video producer: what its publisher was last asked, and when to ask again."""

    __slots__ = ("_full_height", "_pending_height", "_pending_since", "requested")

    def __init__(self) -> None:
        #: the height last asked for (None: nothing asked, or the full size again)
        self.requested: int | None = None
        #: the largest source height seen: what "full size" is once the publisher obeys
        self._full_height: int | None = None
        self._pending_since: float | None = None
        self._pending_height = 0

    def update(self, needed_height: int | None, source_height: int | None, now: float) -> HeightRequest | None:
        """The need now (None: some leg takes the full picture, or nobody watches); returns a
        request to send, or None when nothing changes."""
        if source_height is not None and (self._full_height is None or source_height > self._full_height):
            self._full_height = source_height
        full = self._full_height
        want = needed_height
        if want is not None and (full is None or want >= full):
            want = None  # nobody needs less than the publisher's full size
        current = self.requested
        if want == current:
            self._pending_since = None
            return None
        if want is None or (current is not None and want > current):
            self._pending_since = None
            self.requested = want
            return HeightRequest(want)
        # Less than now: only once it has held.
        if self._pending_since is None:
            self._pending_since = now
            self._pending_height = want
            return None
        self._pending_height = max(self._pending_height, want)
        if now - self._pending_since < DOWN_HOLD_S:
            return None
        self._pending_since = None
        self.requested = self._pending_height
        return HeightRequest(self.requested)

    def dump(self) -> dict[str, object]:
        return {"requested": self.requested, "full_height": self._full_height, "pending_since": self._pending_since}
