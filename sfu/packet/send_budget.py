"""What a constrained subscriber link may be sent: media first, retransmissions from what is left.

Issue 15 measured a subscriber behind a 300 kbit/s link being sent ~8.3 Mbit/s, 28 times its
link, because every NACK its losses caused was answered: the resends filled the queue, caused
more loss and more NACKs. Once the link has an estimate (:mod:`.link_estimate`), one
:class:`SendBudget` per link (every leg of a subscriber shares its bundled transport) is a token
bucket refilled at that estimate:

* **Media is never refused here.** Which media a leg gets is the rendition chooser's decision,
  made to fit the estimate; the media sent is charged to the bucket (it may go into debt, down
  to ``DEBT_S`` of the rate, e.g. for the keyframe after a switch), so retransmissions only
  use what the media leaves.
* **A retransmission is sent only while the bucket holds its size**; otherwise it is dropped
  and counted. The receiver's next NACK (or its keyframe request) repairs later.
* The bucket holds at most ``BURST_S`` of the rate: what an idle moment saves may be spent on
  a burst of resends, not more.

So over any window of ``T`` seconds in which media stays within the estimate, the link is sent at
most ``estimate * (T + BURST_S)``: within 1.5x of it for windows of half a second or more
(issue 15's bound). libwebrtc bounds retransmissions by the target rate too
(``RtpSenderEgress``' retransmission rate limiter), on top of the media rather than within it.

**Before the first estimate** (a link never congested, or in the second or two before its
first loss report is judged) there is no rate to refill at, and a link that has just become
narrow is exactly where a NACK storm starts. Resends then earn ``UNESTIMATED_SHARE`` of each media byte sent
(at most ``UNESTIMATED_BURST_BYTES`` saved): the link is sent at most 1.5x its media, as after
the estimate. A healthy link's resends are a few percent of its media (random loss); only a storm
meets this bound.

Media is not counted packet by packet: the shell passes the link's cumulative media bytes
(what its legs count anyway) with each call, and the bucket charges the difference since the
previous call: nothing is added to the media packet path. Time is passed in.
"""

from __future__ import annotations

#: The bucket holds at most this many seconds of the rate.
BURST_S = 0.25
#: Media beyond the rate may put the bucket this many seconds of the rate in debt (and no more:
#: a past burst must not silence repair for long).
DEBT_S = 0.5
#: No estimate yet: each media byte lets this share of a byte be resent...
UNESTIMATED_SHARE = 0.5
#: ...and at most this much is saved (about 25 full packets: a lost keyframe's worth at 1 Mbit/s).
UNESTIMATED_BURST_BYTES = 32_000


class SendBudgetError(ValueError):
    """Invalid rate or size."""


class SendBudget:
    """Token bucket of one subscriber link, in bytes; ``rate_bps`` None: no estimate (resends
    earn a share of the media instead)."""

    __slots__ = ("_at", "_media_bytes", "_tokens", "dropped", "dropped_bytes", "rate_bps", "resent_bytes")

    def __init__(self) -> None:
        self.rate_bps: float | None = None
        self._tokens = float(UNESTIMATED_BURST_BYTES)
        self._at: float | None = None
        self._media_bytes = 0
        #: retransmissions refused, and their bytes; retransmission bytes allowed
        self.dropped = 0
        self.dropped_bytes = 0
        self.resent_bytes = 0

    def set_rate(self, rate_bps: float | None, media_bytes: int, now: float) -> None:
        """The link's estimate changed (None: not limited). ``media_bytes``: cumulative media
        sent on the link so far."""
        if rate_bps is not None and rate_bps <= 0:
            raise SendBudgetError(f"rate_bps must be positive or None, got {rate_bps!r}")
        if rate_bps is None:
            if self.rate_bps is not None:
                # The link is unconstrained again: a full bucket of the media share.
                self._tokens = float(UNESTIMATED_BURST_BYTES)
            self.rate_bps = None
            self._at = None
            self._media_bytes = media_bytes
            return
        if self.rate_bps is None or self._at is None:
            # A new limit starts with a full bucket: the media sent before it was not limited.
            self.rate_bps = rate_bps
            self._tokens = rate_bps / 8 * BURST_S
            self._at = now
            self._media_bytes = media_bytes
            return
        self._refill(media_bytes, now)  # what passed, at the old rate
        self.rate_bps = rate_bps

    def allow_retransmission(self, nbytes: int, media_bytes: int, now: float) -> bool:
        """May a resend of ``nbytes`` leave now? Counts it (sent or dropped)."""
        if nbytes < 0:
            raise SendBudgetError(f"nbytes must not be negative, got {nbytes!r}")
        self._refill(media_bytes, now)
        if self._tokens < nbytes:
            self.dropped += 1
            self.dropped_bytes += nbytes
            return False
        self._tokens -= nbytes
        self.resent_bytes += nbytes
        return True

    def tokens(self, media_bytes: int, now: float) -> float:
        """Bytes that may be resent now (negative: in debt)."""
        self._refill(media_bytes, now)
        return self._tokens

    def _refill(self, media_bytes: int, now: float) -> None:
        rate = self.rate_bps
        if rate is None or self._at is None:
            spent = max(0, media_bytes - self._media_bytes)
            self._media_bytes = media_bytes
            self._tokens = min(float(UNESTIMATED_BURST_BYTES), self._tokens + UNESTIMATED_SHARE * spent)
            return
        per_s = rate / 8
        elapsed = max(0.0, now - self._at)
        self._at = max(self._at, now)
        spent = max(0, media_bytes - self._media_bytes)
        self._media_bytes = media_bytes
        tokens = self._tokens + per_s * elapsed - spent
        self._tokens = min(per_s * BURST_S, max(-per_s * DEBT_S, tokens))
