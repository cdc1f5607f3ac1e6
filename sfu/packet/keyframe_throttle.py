"""At most one keyframe request (PLI) per producer per interval, and none ever lost.

The interval is 0.5 s by default (``SfuConfig.keyframe_request_interval_s``): at most two
requests a second reach a publisher, evenly spaced, so the longest wait for a turn is half
a second (a late joiner usually needs no turn at all: see :mod:`.gop_cache`).

Every new subscriber and every packet-loss burst asks for a keyframe; forwarding each request
upstream would make the publisher send keyframes back to back (a bandwidth spike and a quality
drop for everyone). Requests inside the interval are remembered and sent once the interval has
passed (``due``), so the subscriber that asked last still gets its keyframe.
"""


class KeyframeThrottleError(ValueError):
    """Invalid construction argument for a KeyframeRequestThrottle."""


class KeyframeRequestThrottle:
    """Rate limiter for upstream keyframe requests of one producer."""

    __slots__ = ("_last_sent", "_min_interval", "_pending", "sent", "suppressed")

    def __init__(self, min_interval: float = 1.0) -> None:
        if min_interval < 0:
            raise KeyframeThrottleError(f"min_interval must be >= 0, got {min_interval!r}")
        self._min_interval = min_interval
        self._last_sent: float | None = None
        self._pending = False
        self.sent = 0
        self.suppressed = 0

    @property
    def pending(self) -> bool:
        """A suppressed request is waiting to be sent."""
        return self._pending

    def request(self, now: float) -> bool:
        """A keyframe is wanted. True: send a PLI upstream now. False: remembered for later."""
        if self._last_sent is None or now >= self._last_sent + self._min_interval:
            self._send(now)
            return True
        self._pending = True
        self.suppressed += 1
        return False

    def due(self, now: float) -> bool:
        """True (once) when a remembered request may be sent now; the caller sends the PLI."""
        # the same sum as next_due_time(): a timer set for that moment finds it due
        if self._pending and (self._last_sent is None or now >= self._last_sent + self._min_interval):
            self._send(now)
            return True
        return False

    def next_due_time(self) -> float | None:
        """When ``due`` will next return True (None when nothing is pending)."""
        if not self._pending:
            return None
        return 0.0 if self._last_sent is None else self._last_sent + self._min_interval

    def keyframe_received(self) -> None:
        """A keyframe arrived from the producer: a pending request is already satisfied."""
        self._pending = False

    def dump(self) -> dict[str, object]:
        return {
            "last_sent": self._last_sent,
            "pending": self._pending,
            "sent": self.sent,
            "suppressed": self.suppressed,
        }

    def _send(self, now: float) -> None:
        self._last_sent = now
        self._pending = False
        self.sent += 1
