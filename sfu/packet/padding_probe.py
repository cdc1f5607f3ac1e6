"""A padding probe: before a subscriber's video is switched up, its link is sent what the better
picture would add, as padding, and the switch is made only if the link carried it.

Without it, the up-switch itself was the probe (issue 15), and a failed one was costly: the
better picture's keyframe and rate overloaded the link for the 2 s a switch down must wait,
audio in the same queue suffered, and the picture that failed was barred for 30 s and more, so a
link freed in the meantime got its source back only after the bar (docs/architecture.md,
"Padding probes"). Padding costs no keyframe and stops the moment the link
complains, so a failed probe is cheap and the picture is barred for seconds.

The padding is duplicates of the leg's newest packets (``Consumer.send_padding``): they cross
the link like any packet, and the receiver's SRTP replay check drops them (libsrtp, in Chrome,
Firefox and aiortc alike; one whose original was lost repairs it instead). No RTX or padding-only
packets are needed, so every receiver takes them. They are not media: receiver reports count
loss over media sequence numbers, and a receiver's delay-based estimate never sees them. So the
link's answer is read from what they do to the media beside them:

* **loss**: a loss report of ``LOSS_INCREASE_BELOW`` (2 %) or more, arrived at least
  ``REPORT_AFTER_S`` after the padding began (what it describes was sent with the padding);
* **delay**: the receiver's REMB fell (a drop-tail queue fills before it drops: its delay rises
  and the receiver's estimate falls before any loss);
* **a cut**: the link's estimate was decreased.

The padding rises to its full rate over its first second (``RAMP_S``), so that a link that
cannot carry it is found as its queue starts to fill. Any of these fails the probe at once
(the padding stops). It passes once the padding has run
``PROBE_S`` and a clean loss report arrived at least ``PASS_REPORT_AFTER_S`` after it began; with
no such report by ``VERDICT_BY_S`` it fails (nothing says the link carried it).

Sans-I/O: time is passed in; the shell (:mod:`sfu.link_adaptation`) sends what
:meth:`PaddingProbe.due` says and feeds :meth:`PaddingProbe.observe` from the link's estimator.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Literal, TypeAlias

from .link_estimate import LOSS_INCREASE_BELOW
from .rendition_chooser import Picture

#: How long the padding runs...
PROBE_S = 2.0
#: ...rising from nothing to its full rate over the first this long: a link that cannot carry
#: the full rate is found as its queue starts to grow, before the padding has filled it (at the
#: full rate from the start, a failed probe of a 300 kbit/s link had Chromium conceal 2.4 % of its
#: audio over the 5 s around it: tests/browser/test_link_adaptation.py, 2026-12-06 20:31 UTC).
RAMP_S = 1.0
#: A loss report counts for the probe only if it arrived this long after the padding began: it
#: describes packets sent a round trip and part of a report interval before it arrived.
REPORT_AFTER_S = 0.5
#: A pass needs a clean loss report arrived this long after the padding began: after it ended,
#: so that the report describes it at its full rate (with a report arrived 1.5 s in, probes that a
#: 1 Mbit/s queue could not carry passed: its 300 ms of buffer filled only near the end).
PASS_REPORT_AFTER_S = PROBE_S + 0.25
#: No verdict by then: failed (no loss report said the link carried the padding).
VERDICT_BY_S = PROBE_S + 1.5

Verdict: TypeAlias = Literal["passed", "failed"]


class PaddingProbeError(ValueError):
    """Invalid probe rate."""


class PaddingProbe:
    """One probe of a subscriber link: padding up to ``rate_bps`` on ``leg``, for ``picture``."""

    __slots__ = ("_clean", "_owed", "_paid_at", "failed_because", "leg", "picture", "rate_bps", "sent_bytes", "started")

    def __init__(self, leg: Hashable, picture: Picture, rate_bps: float, now: float) -> None:
        if not rate_bps > 0:
            raise PaddingProbeError(f"a probe's padding rate must be positive, got {rate_bps!r}")
        self.leg = leg
        #: the picture the probe is for (handed back to the chooser with the verdict)
        self.picture = picture
        self.rate_bps = float(rate_bps)
        self.started = now
        self.sent_bytes = 0
        #: why it failed ("loss", "delay", "cut", "no report"), None while it has not
        self.failed_because: str | None = None
        self._paid_at = now
        self._owed = 0.0
        self._clean = False

    def due(self, now: float) -> int:
        """Bytes of padding to send now (0 once the padding has run ``PROBE_S`` or failed)."""
        if self.failed_because is not None:
            return 0
        end = min(now, self.started + PROBE_S)
        if end > self._paid_at:
            self._owed += self._padded_by(end) - self._padded_by(self._paid_at)
            self._paid_at = end
        due = int(self._owed)
        return due if due > 0 else 0

    def _padded_by(self, t: float) -> float:
        """Bytes of padding due from the start to ``t``: a ramp over ``RAMP_S``, then flat."""
        per_s = self.rate_bps / 8
        since = t - self.started
        if since <= RAMP_S:
            return per_s * since * since / (2 * RAMP_S)
        return per_s * (RAMP_S / 2 + since - RAMP_S)

    def sent(self, nbytes: int) -> None:
        """``nbytes`` of padding left (a packet or two more or less than was due)."""
        self.sent_bytes += nbytes
        self._owed -= nbytes

    def observe(self, now: float, *, loss: float | None, remb_fell_at: float, decreased_at: float) -> None:
        """What the link said since the last call: ``loss`` of a new loss report (None: none),
        when the REMB last fell and when the estimate was last decreased."""
        if self.failed_because is not None:
            return
        since = now - self.started
        if decreased_at >= self.started:
            self.failed_because = "cut"
        elif remb_fell_at >= self.started:
            self.failed_because = "delay"
        elif loss is not None and since >= REPORT_AFTER_S:
            if loss >= LOSS_INCREASE_BELOW:
                self.failed_because = "loss"
            elif since >= PASS_REPORT_AFTER_S:
                self._clean = True

    def verdict(self, now: float) -> Verdict | None:
        """Passed, failed, or None while it runs."""
        if self.failed_because is not None:
            return "failed"
        since = now - self.started
        if since >= PROBE_S and self._clean:
            return "passed"
        if since >= VERDICT_BY_S:
            self.failed_because = "no report"
            return "failed"
        return None
