"""How much one subscriber's link carries: a bandwidth estimate from the feedback it sends us.

One :class:`LinkEstimator` per subscriber link (its subscribe connection: every leg of a
subscriber shares one bundled transport, so one link). Inputs, each with the time it arrived:

* **REMB** (``goog-remb``, negotiated on every video leg): the receiver's delay-based
  estimate. Chrome sends one per transport listing every video SSRC (a total); aiortc sends
  one per receiving stream listing that stream's SSRC. Both are handled by keeping the latest
  REMB per *group* of SSRCs (a new REMB replaces every group it overlaps) and summing the
  fresh groups.
* **Receiver reports**: per leg, the cumulative loss and the extended highest sequence
  number, from which the loss over each interval is computed (weighted by packets, over all
  legs). A policer drops packets without queueing them, so the receiver's delay-based
  estimate never sees it (issue 15 measured REMB at 1.4 Mbit/s with 89 % loss): loss must
  count too.
* **What we sent** (bytes per tick, from the shell): the base of a loss-based decrease, and
  the yardstick telling a congested REMB from an idle one. Padding (a probe's duplicates, see
  :mod:`.padding_probe`) is given apart: it counts in the base of a loss-based decrease (the
  link dropped media and padding alike) but not in what bounds growth (it is not what a
  picture sends).

The rules (libwebrtc's loss-based controller, adapted to a forwarder whose only padding is a probe's
duplicates, which no receiver report counts):

* Nothing is known until the first congestion signal: the estimate is None (no limit).
* Loss > 10 % over an interval of at least ``MIN_LOSS_PACKETS``: the estimate becomes
  ``sent * (1 - loss)`` when that is lower, what got through (libwebrtc's ``1 - loss / 2`` is made
  for a sender that adjusts its rate smoothly; under heavy loss it stays far above the link:
  93 % loss of 4.8 Mbit/s would leave 2.6 Mbit/s for a 300 kbit/s link), where ``sent`` is the highest rate we sent over the
  last ``LOSS_BASE_WINDOW_S`` (a report describes packets sent a round trip and a report
  interval ago, before any switch down it caused). Decreases (loss or REMB) do not compound:
  at most one per ``DECREASE_INTERVAL_S``, and loss reported in the ``SETTLE_S`` after one is
  not counted (it describes packets sent before the decrease, still queued or already lost).
  When the REMB fell too (below), the lower of that and the rate the REMB implies (REMB / 0.85:
  on overuse a receiver sets its estimate to 0.85x what arrives): both signals say congestion,
  and the REMB is the receiver's view of what arrives now, while a loss interval may still hold
  what passed before the link's queue filled. A cut while we send less than ``GENTLE_BELOW``
  of the most we sent over the last 2 s (a switch down just made) leaves at least
  ``1 - loss / 2`` of the estimate (libwebrtc's rule): the loss that follows a switch down
  overstates the link's.
* A REMB that *fell* (by 10 % or more, within ``REMB_FALL_MEMORY_S``) and stays below 50 % of
  what we send for ``REMB_CONGESTED_FOR_S`` means the receiver saw queueing delay grow while we
  sent that much: the estimate becomes ``min(estimate, REMB)``. A receiver's estimate only
  falls on overuse; it lags a sender that ramps up (the first REMBs of a leg are low) and what
  we send comes in bursts (keyframes after a switch), hence the fall, the margin and the
  persistence. A link only slightly narrower than what we send fills its queue and shows as loss. A REMB above what we send says
  little: a receiver's estimate only climbs to about 1.5x what it receives, so it is no upper
  bound for a bigger picture; it is ignored then.
* Loss < 2 % and no REMB congestion: the estimate grows by ``GROWTH_PER_S`` up to
  ``PROBE_FACTOR`` (3.5) times what we send, or up to ``probe_target`` (set by the shell: what
  the next better picture needs; plus ``PROBE_TARGET_MARGIN``) when that is higher (20 %/s, faster
  than libwebrtc's 8 % because our choices are coarse: each ladder step is about twice the
  bitrate of the one below, and a subscriber should be back on the source within 15 s of a link
  recovering; 50 %/s for 5 s after a passed padding probe). The chooser probes with padding
  before it switches up (:mod:`.padding_probe`): if the link cannot carry it, the probe fails,
  and loss or REMB brings the estimate down within a second or two, though not, for a few
  seconds, below what the current pictures need (``on_probe_failed``: the link carried them
  before the padding). Between 2 % and 10 % the estimate holds.
* Once it has stayed above ``ceiling`` (set by the shell: what the subscriber would receive with
  no limit, with margin) for ``CLEAR_ABOVE_CEILING_FOR_S`` with every picture at its best (no
  ``probe_target``), or after ``CLEAR_AFTER_S`` (60 s) without a decrease, the link is
  unconstrained again: None (the next congestion starts a new estimate).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

#: Loss above this fraction: decrease; below ``LOSS_INCREASE_BELOW``: may increase.
LOSS_DECREASE_ABOVE = 0.10
LOSS_INCREASE_BELOW = 0.02
#: Fewer packets than this in a loss interval: not enough to judge (libwebrtc: 20).
MIN_LOSS_PACKETS = 20
DECREASE_INTERVAL_S = 1.5
SETTLE_S = 1.0
#: A cut while we send less than this share of the most we sent over ``LOSS_BASE_WINDOW_S``
#: leaves at least ``1 - loss / 2`` of the estimate.
GENTLE_BELOW = 0.75
LOSS_BASE_WINDOW_S = 2.0
GROWTH_PER_S = 1.20
#: For ``FAST_GROWTH_S`` after a passed padding probe (the link just carried the better picture's
#: rate), the estimate grows at this rate instead: libwebrtc too probes further, at twice the
#: rate, after a probe that succeeded. A link freed from a limit climbs ladder steps in turn, and
#: the step to a source at 3x the rendition below it otherwise waited 2-3 s of growth before its
#: 5 s hold could even begin (the source back 16 s after a link was freed, once).
FAST_GROWTH_PER_S = 1.50
FAST_GROWTH_S = 5.0
#: After a failed padding probe, no decrease goes below what the current pictures need (with
#: this margin: the audio's measured rate moves, and a floor exactly at the need was seen 0.4
#: kbit/s short of it a second later, the picture going down a step) for this long (the
#: padding's queue drained, its loss reported).
PROBE_FLOOR_MARGIN = 1.05
PROBE_FLOOR_S = 3.0
#: Growth stops at this many times the rate we send: one ladder step is about 2x the bitrate
#: of the one below, and the step below the source may be 3x below it (a 1 Mbit/s camera over
#: its 281 kbit/s 480x360 rendition plus audio).
PROBE_FACTOR = 3.5
#: Growth may pass ``probe_target`` by this much: the next picture's need is measured (a source's
#: rate moves with its publisher's estimate), and an estimate sitting exactly on it fits one tick
#: and not the next, restarting the chooser's 5 s hold each time (a source not back within 15 s of
#: a link freed, its estimate 1 % under the need, was seen).
PROBE_TARGET_MARGIN = 1.15
#: This long without a decrease (and with little loss): the link is not limiting, no estimate.
#: Long: clearing makes the next choice the source, a probe of the whole gap at once.
CLEAR_AFTER_S = 60.0
#: Once it grows past the ceiling, the estimate clears only after staying above it this long
#: with every picture at its best (no ``probe_target``): the best pictures carried that long,
#: the loss reports of their first seconds in. With a probe target the estimate is untested (up
#: to 3.5x what a smaller picture sends: a 500 kbit/s link at 480x360 was cleared 5 s after its
#: first cut, its source's rate having fallen, and sent the source), and cleared at once a probe
#: of the source was forgotten 1.5 s after its up-switch, before its loss was reported.
CLEAR_ABOVE_CEILING_FOR_S = 3.0
#: A REMB below this share of our sending rate, for this long, is a congestion signal.
REMB_CONGESTED_BELOW = 0.50
REMB_CONGESTED_FOR_S = 1.0
REMB_FALL = 0.90
#: What a receiver's REMB is of its incoming rate after an overuse (libwebrtc's AIMD beta).
REMB_OVERUSE_BETA = 0.85
REMB_FALL_MEMORY_S = 3.0
#: Sent rate averaged over this window.
SENT_WINDOW_S = 1.0


class LinkEstimateError(ValueError):
    """Invalid feedback value."""


class _LossCounter:
    """One leg's last receiver report: cumulative lost and extended highest sequence."""

    __slots__ = ("highest", "lost")

    def __init__(self, highest: int, lost: int) -> None:
        self.highest = highest
        self.lost = lost


class LinkEstimator:
    """Available bandwidth of one subscriber link, in bits per second (None: not limited)."""

    def __init__(
        self,
        *,
        min_bps: int = 30_000,
        remb_timeout_s: float = 5.0,
    ) -> None:
        if min_bps <= 0:
            raise LinkEstimateError(f"min_bps must be positive, got {min_bps!r}")
        self.min_bps = min_bps
        self.remb_timeout_s = remb_timeout_s
        self._estimate: float | None = None
        self.ceiling: float | None = None
        #: the estimate at which the next better picture fits (set by the shell): growth may
        #: always reach it, however little we send now (a 1.5 Mbit/s source over its 480x360
        #: rendition is 4.4x what that rendition and its audio send)
        self.probe_target: float | None = None
        # REMB: frozenset of SSRCs -> (bitrate, arrival)
        self._remb: dict[frozenset[int], tuple[int, float]] = {}
        self._loss_legs: dict[int, _LossCounter] = {}
        self._interval_lost = 0
        self._interval_expected = 0
        #: loss of the last complete interval, until ``update`` consumes it
        self._pending_loss: float | None = None
        self.last_loss: float | None = None
        self._sent: deque[tuple[float, int]] = deque()
        self._padding: deque[tuple[float, int]] = deque()
        #: loss values taken from reports so far (a probe waits for a new one)
        self.loss_reports = 0
        self._last_update: float | None = None
        self._last_decrease = float("-inf")
        self._remb_low_since: float | None = None
        #: (time, media sent rate, with padding) at each update, over LOSS_BASE_WINDOW_S
        self._sent_history: deque[tuple[float, float, float]] = deque()
        #: when the REMB last fell (by 10 % or more)
        self.remb_fell_at = float("-inf")
        #: since when the estimate is above the ceiling with every picture at its best
        self._above_ceiling_since: float | None = None
        #: faster growth until then (after a passed padding probe; see ``on_probe_passed``)
        self._fast_until = float("-inf")
        #: no decrease below this until then (after a failed padding probe; see ``on_probe_failed``)
        self._floor = 0.0
        self._floor_until = float("-inf")

    # ------------------------------------------------------------ inputs

    def on_remb(self, bitrate: int, ssrcs: Iterable[int], now: float) -> None:
        """A REMB arrived: ``bitrate`` bits/s for the streams ``ssrcs``."""
        if not isinstance(bitrate, int) or bitrate < 0:
            raise LinkEstimateError(f"REMB bitrate must be a non-negative int, got {bitrate!r}")
        group = frozenset(ssrcs)
        before = self.remb(now)
        for other in [g for g in self._remb if g & group or not group]:
            del self._remb[other]
        self._remb[group] = (bitrate, now)
        after = self.remb(now)
        if before is not None and after is not None and after < REMB_FALL * before:
            self.remb_fell_at = now

    def on_receiver_report(
        self, ssrc: int, packets_lost: int, highest_sequence: int, now: float
    ) -> None:
        """A receiver report block about one of our legs (cumulative figures, RFC 3550)."""
        previous = self._loss_legs.get(ssrc)
        self._loss_legs[ssrc] = _LossCounter(highest_sequence, packets_lost)
        if previous is None or now < self._last_decrease + SETTLE_S:
            return
        expected = highest_sequence - previous.highest
        if expected <= 0:
            return  # a repeated or reordered report: nothing new
        lost = min(max(packets_lost - previous.lost, 0), expected)
        self._interval_expected += expected
        self._interval_lost += lost
        if self._interval_expected >= MIN_LOSS_PACKETS:
            self._pending_loss = self._interval_lost / self._interval_expected
            self._interval_expected = self._interval_lost = 0

    def forget_stream(self, ssrc: int) -> None:
        """A leg went away: its loss counters (and its REMB group membership) are dropped."""
        self._loss_legs.pop(ssrc, None)

    def on_sent(self, nbytes: int, now: float) -> None:
        """Media bytes we sent on this link since the previous call."""
        self._sent.append((now, nbytes))
        self._trim_sent(now)

    def on_padding(self, nbytes: int, now: float) -> None:
        """Bytes of padding we sent on this link (a probe)."""
        self._padding.append((now, nbytes))
        self._trim_sent(now)

    def on_probe_passed(self, now: float) -> None:
        """A padding probe passed: the estimate grows at ``FAST_GROWTH_PER_S`` for a while."""
        self._fast_until = now + FAST_GROWTH_S

    def on_probe_failed(self, needed_bps: float, now: float) -> None:
        """A padding probe failed. The link did not carry what it was offered with the padding
        (media and padding over the last ``SENT_WINDOW_S``): the estimate is no higher (without
        that, an estimate grown to 2x a 1 Mbit/s link while a smaller picture was sent stayed
        there, and the link was probed at that rate again and again). It carried the pictures it
        has before the padding, which need ``needed_bps`` of estimate: for ``PROBE_FLOOR_S`` no
        decrease goes below that (with ``PROBE_FLOOR_MARGIN``). What the link reports meanwhile
        (a queue the padding filled, the media lost with it, a receiver's REMB cut to 0.85x of a
        moment's arrivals) says it was overfull, not that it narrowed: a cut of a 300 kbit/s link
        to 88 kbit/s after a failed probe was seen, three ladder steps to climb back."""
        self._floor = PROBE_FLOOR_MARGIN * needed_bps
        self._floor_until = now + PROBE_FLOOR_S
        if self._estimate is not None:
            offered = self.sent_rate(now) + self.padding_rate(now)
            self._estimate = max(float(self.min_bps), self._floor, min(self._estimate, offered))

    # ------------------------------------------------------------ outputs

    def sent_rate(self, now: float) -> float:
        """Media we sent over the last ``SENT_WINDOW_S``, in bits/s."""
        self._trim_sent(now)
        return sum(n for _, n in self._sent) * 8 / SENT_WINDOW_S

    def padding_rate(self, now: float) -> float:
        """Padding we sent over the last ``SENT_WINDOW_S``, in bits/s."""
        self._trim_sent(now)
        return sum(n for _, n in self._padding) * 8 / SENT_WINDOW_S

    def remb(self, now: float) -> int | None:
        """The sum of the fresh REMB groups (None: none fresh)."""
        fresh = [b for b, at in self._remb.values() if now - at <= self.remb_timeout_s]
        return sum(fresh) if fresh else None

    @property
    def losing(self) -> bool:
        """The last loss report said the link loses packets (``LOSS_INCREASE_BELOW`` or more)."""
        return self.last_loss is not None and self.last_loss >= LOSS_INCREASE_BELOW

    @property
    def estimate(self) -> float | None:
        """The last estimate computed by :meth:`update` (bits/s; None: not limited)."""
        return self._estimate

    def update(self, now: float) -> float | None:
        """Apply the feedback received since the last call; returns the estimate."""
        dt = 0.0 if self._last_update is None else max(0.0, now - self._last_update)
        self._last_update = now
        sent = self.sent_rate(now)
        history = self._sent_history
        history.append((now, sent, sent + self.padding_rate(now)))
        while history and now - history[0][0] > LOSS_BASE_WINDOW_S:
            history.popleft()
        sent_recently = max(media for _, media, _ in history)
        carried_recently = max(total for _, _, total in history)
        remb = self.remb(now)
        loss, self._pending_loss = self._pending_loss, None
        if loss is not None:
            self.last_loss = loss
            self.loss_reports += 1
        estimate = self._estimate
        fell = now - self.remb_fell_at <= REMB_FALL_MEMORY_S
        if remb is not None and sent > 0 and remb < REMB_CONGESTED_BELOW * sent and fell:
            if self._remb_low_since is None:
                self._remb_low_since = now
        else:
            self._remb_low_since = None
        remb_congested = self._remb_low_since is not None and now - self._remb_low_since >= REMB_CONGESTED_FOR_S
        may_decrease = now - self._last_decrease >= DECREASE_INTERVAL_S
        if loss is not None and loss > LOSS_DECREASE_ABOVE:
            # What got through: the loss is of what we sent (not of the estimate, which may be
            # lower already: a base of min(estimate, sent) would compound a lasting loss).
            base = carried_recently if carried_recently > 0 else (estimate or 0.0)
            through = base * (1.0 - loss)
            if remb is not None and fell and remb / REMB_OVERUSE_BETA < through:
                # A drop-tail queue: the receiver's REMB fell with the same congestion (its
                # delay), and says what arrives now, while a loss interval still counts what
                # passed before the queue filled (a first cut at 480x360 behind 300 kbit/s,
                # and the next switch 2 s later, missed the 5 s of issue 15 once in seven).
                # The REMB itself is below the link: on overuse a receiver sets it to 0.85x
                # what arrives (libwebrtc's AIMD; the REMB as such cut a 300 kbit/s link to
                # 191 kbit/s: 240x180, then 120x90).
                through = remb / REMB_OVERUSE_BETA
            if estimate is not None and sent < GENTLE_BELOW * sent_recently:
                # While we send much less than a moment ago (a switch down just made), a cut
                # takes at most libwebrtc's share (1 - loss/2 of the estimate): the loss that
                # follows a switch down (the old picture still queued, the new one's keyframes,
                # a NACK storm) overstates the link's (cut by what got through, a 300 kbit/s link
                # at 320x240 went to 168 kbit/s and 120x90, three steps to climb back). Not
                # otherwise: a failed probe up must be undone at once (cut by half the loss, a 250
                # kbit/s link was sent 480x360 for 7 s), and a policer's loss is the link's own
                # (a 300 kbit/s policer held 480x360 for 10 s).
                through = max(through, estimate * (1.0 - loss / 2))
            # (nothing sent and nothing known: no base to decrease from)
            if base > 0 and may_decrease and (estimate is None or through < estimate):
                estimate = through
                self._decreased(now)
        elif remb_congested and remb is not None:
            if may_decrease and (estimate is None or remb < estimate):
                estimate = remb
                self._decreased(now)
        elif estimate is not None and not self.losing:
            # Grow, but not beyond PROBE_FACTOR x what we actually send (an estimate that climbs
            # while we send little has been tested by nothing: the next step up is the probe),
            # or beyond what that next step needs when it is more.
            bound = max(estimate, PROBE_FACTOR * sent_recently, PROBE_TARGET_MARGIN * (self.probe_target or 0.0))
            growth = FAST_GROWTH_PER_S if now < self._fast_until else GROWTH_PER_S
            estimate = min(estimate * growth**dt, bound)
            calm = now - self._last_decrease >= CLEAR_AFTER_S
            if self.ceiling is None or estimate <= self.ceiling or self.probe_target is not None:
                self._above_ceiling_since = None
            elif self._above_ceiling_since is None:
                self._above_ceiling_since = now
            above_for = 0.0 if self._above_ceiling_since is None else now - self._above_ceiling_since
            if calm or above_for >= CLEAR_ABOVE_CEILING_FOR_S:
                estimate = None
        if estimate is None or (loss is not None and loss >= LOSS_INCREASE_BELOW):
            self._above_ceiling_since = None
        if estimate is not None:
            estimate = max(float(self.min_bps), self._floor_at(now), estimate)
        self._estimate = estimate
        return estimate

    def dump(self, now: float) -> dict[str, object]:
        return {
            "estimate_bps": None if self._estimate is None else int(self._estimate),
            "remb_bps": self.remb(now),
            "sent_bps": int(self.sent_rate(now)),
            "padding_bps": int(self.padding_rate(now)),
            "last_loss": self.last_loss,
            "ceiling_bps": None if self.ceiling is None else int(self.ceiling),
        }

    # ------------------------------------------------------------ internals

    @property
    def decreased_at(self) -> float:
        """When the estimate was last decreased (-inf: never)."""
        return self._last_decrease

    def _floor_at(self, now: float) -> float:
        return self._floor if now < self._floor_until else 0.0

    def _decreased(self, now: float) -> None:
        self._last_decrease = now
        self._interval_lost = self._interval_expected = 0
        self._pending_loss = None

    def _trim_sent(self, now: float) -> None:
        for sent in (self._sent, self._padding):
            while sent and now - sent[0][0] >= SENT_WINDOW_S:
                sent.popleft()


#: Upper bounds (kbit/s) of the link-estimate distribution on /metrics.
ESTIMATE_BUCKETS_KBPS = (100, 300, 600, 1200, 2500)


def link_estimate_buckets(estimates: list[float | None]) -> dict[str, int]:
    """Subscriber links by estimate, cumulative (a Prometheus histogram's buckets as gauges):
    ``link_estimate_le_<N>kbps``; ``links_estimated`` counts every link with an estimate (the
    others are not limited)."""
    known = [e for e in estimates if e is not None]
    out = {
        f"link_estimate_le_{b}kbps": sum(1 for e in known if e <= b * 1000)
        for b in ESTIMATE_BUCKETS_KBPS
    }
    out["links_estimated"] = len(known)
    return out
