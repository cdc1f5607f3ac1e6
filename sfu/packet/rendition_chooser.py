"""Which picture each of a subscriber's videos gets, from its link's bandwidth estimate.

One :class:`RenditionChooser` per subscriber. Each call to :meth:`RenditionChooser.choose`
gets the link's estimate (:class:`~sfu.packet.link_estimate.LinkEstimator`), what the
subscriber's audio takes, and per video leg its options, best first (the source as is, then
each server rendition size below any explicit cap, with the bitrate each needs). It answers,
per leg, the option it gets now or ``"paused"`` (video paused, audio kept).

Sharing the link: ``estimate * HEADROOM`` minus the audio is the video budget (the rest covers
RTP/SRTP overhead and retransmissions). Legs are served by priority (a screen share before
cameras); legs of one priority share what is left equally, what one leaves unused passes on
to the next. A lower-priority leg keeps its smallest option reserved while the budget allows,
so a screen share does not pause every camera unless it must. A leg whose smallest option
does not fit its share is paused; with no estimate (a link never seen congested) every leg
gets its best option.

Hysteresis, per leg (no flapping): at most one switch per ``SWITCH_INTERVAL_S`` (2 s) in
either direction; a switch down is taken at once otherwise (straight to what fits, however
many steps, except that a leg is paused only from its cheapest picture (the best of those
needing the least), once that has not fitted for ``PAUSE_AFTER_S`` while the link loses packets); a switch up (or a resume) only
once the leg has had ``UP_HOLD_S`` (5 s) of headroom, to the best option that fits then. The
headroom is the time since the link's estimate was last cut, a padding probe of the leg last
failed or the leg last switched down; an up-switch does not end it, so a link freed from a limit
climbs its ladder steps ``NEXT_UP_AFTER_S`` (3 s) apart rather than 5 s apart; the picture
itself must have fitted for ``FITS_FOR_S`` (3 s) without a break. Counted per
picture, from when the estimate reached its need, a Chromium subscriber got its source back 16 s
after its link was freed: the estimate must first grow to each step's need (the source's is 3x
the rendition's below it), and only then did that step's 5 s begin. What the estimate allows is
a guess; the padding probe before each up-switch (below) measures it. An up-switch followed within
``FAILED_PROBE_S`` by a switch down (the first one after it) was a failed probe: the next up-switch waits ``FAILED_PROBE_HOLD_S``
(10 s), and the picture that failed (or a better one) is not tried again for
``FAILED_PROBE_BACKOFF_S`` (30 s, doubling to 120 s until a probe of it holds). With no
estimate (the link cleared) failed probes are forgotten.

With ``probe_up`` (the server's setting), an up-switch is first tried with padding
(:mod:`.padding_probe`): once the leg has had ``hold - PROBE_LEAD_S`` of headroom, the
chooser asks for a probe of the picture it would switch to (:attr:`RenditionChooser.probe_wanted`: the leg, the picture and
the rate it would add), and switches only once the shell reports the probe passed
(:meth:`RenditionChooser.probe_result`, valid ``PROBE_VALID_S``) and the full hold is over. A
failed padding probe bars its picture for ``PADDING_BAR_S`` (3 s, doubling to 6 s until one
passes): it cost the link a second of padding, not a keyframe and a switch down, so the bar is
short, and a link freed during it is probed again within seconds.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from .renditions import LADDER_HEIGHTS, NO_CAP, PAUSED, Cap, Size, target_size

HEADROOM = 0.85
SWITCH_INTERVAL_S = 2.0
#: A leg at its smallest picture is paused only once that has not fitted for this long: the
#: first loss-based cuts of a congested link measure what its queue held before the switches
#: down, and a 300 kbit/s link was seen paused by one such dip (make test in CI); a link that
#: really cannot carry the smallest picture keeps being cut below it.
PAUSE_AFTER_S = 3.0
UP_HOLD_S = 5.0
#: A picture is switched up to only once the estimate has allowed it this long without a break
#: (as well as the leg's headroom): a link oscillating every 3 s never went up.
FITS_FOR_S = 3.0
#: After an up-switch, the next one waits this long even for a picture with headroom: the first
#: probe's loss is reported by then (receiver reports come every second or so) and its cut ends
#: the headroom of every better picture.
NEXT_UP_AFTER_S = 3.0
FAILED_PROBE_S = 10.0
FAILED_PROBE_HOLD_S = 10.0
#: The picture of a failed probe is not tried again for this long, doubling while probes keep
#: failing (a link that carries 480x360 but not the source stays at 480x360).
FAILED_PROBE_BACKOFF_S = 30.0
MAX_FAILED_PROBE_BACKOFF_S = 120.0
#: A padding probe starts this long before the hold (and the wait after an up-switch) is over,
#: so that its verdict (2.3-3.5 s: the padding's 2 s, then a loss report) is in when the switch
#: is due.
PROBE_LEAD_S = 3.0
#: A padding probe of a source pads up to this much more than its need: a source's measured rate
#: moves with its publisher's estimate (a probe at a ramping 500 kbit/s source's measured rate
#: passed, and the source overloaded the link 2 s after the switch). Not for a rendition: it is
#: encoded at most at its need (and a larger probe costs a narrow link more when it fails: with
#: the margin, Chromium behind 300 kbit/s got 13 audio packets in one half second).
SOURCE_PROBE_MARGIN = 1.2
#: A padding probe starts at least this long after the leg's last switch (the switch itself waits
#: ``SWITCH_INTERVAL_S``): a climb of three steps, each probe waiting the 2 s, took 14.2 s.
PROBE_AFTER_SWITCH_S = 1.0
#: A passed padding probe allows the up-switch to its picture (or a smaller one) this long.
PROBE_VALID_S = 3.0
#: The picture of a failed padding probe is not probed again for this long, doubling to the
#: maximum while probes keep failing.
PADDING_BAR_S = 3.0
MAX_PADDING_BAR_S = 6.0

#: An option's picture: a rendition size, or None for the source as is.
Picture: TypeAlias = Size | None
Choice: TypeAlias = Size | Literal["paused"] | None


@dataclass(frozen=True)
class VideoOption:
    """One picture a leg can get and the bitrate it needs (bits/s)."""

    picture: Picture
    need_bps: float


@dataclass(frozen=True)
class VideoLeg:
    """One video leg's options (best first, at least one) and priority (lower is served first)."""

    leg: Hashable
    options: tuple[VideoOption, ...]
    priority: int = 1


@dataclass(frozen=True)
class ProbeRequest:
    """A padding probe the chooser wants before switching ``leg`` up to ``picture``: padding at
    ``extra_bps`` (what that picture needs, with ``SOURCE_PROBE_MARGIN`` for a source, beyond what
    the leg's picture needs now)."""

    leg: Hashable
    picture: Picture
    extra_bps: float


@dataclass(frozen=True)
class Switch:
    leg: Hashable
    direction: Literal["up", "down"]
    choice: Choice


def rendition_bitrate(size: Size, per_720p: int, min_bps: int) -> int:
    """The bitrate a server rendition of ``size`` is encoded at: linear in pixels, from 720p."""
    return max(min_bps, int(per_720p * size[0] * size[1] / (1280 * 720)))


def video_options(
    source: Size | None,
    cap: Cap = NO_CAP,
    *,
    transform: bool = False,
    source_bps: float | None = None,
    per_720p: int = 1_500_000,
    min_bps: int = 100_000,
) -> tuple[VideoOption, ...]:
    """A leg's options, best first: the source (as is, or re-encoded at its size when a
    transform is on) if the explicit cap allows it, then every ladder step below the cap.

    ``source_bps`` is what the publisher sends (measured); renditions need their encoding
    bitrate. With the source size unknown the only option is the source as is."""
    if source is None:
        return (VideoOption(None, source_bps or 0.0),)
    options: list[VideoOption] = []
    if target_size(source[0], source[1], cap[0], cap[1]) is None:
        encoded = rendition_bitrate(source, per_720p, min_bps)
        options.append(
            VideoOption(None, encoded if transform or source_bps is None else source_bps)
        )
    for height in LADDER_HEIGHTS:
        max_h = height if cap[1] is None else min(cap[1], height)
        size = target_size(source[0], source[1], cap[0], max_h)
        if size is not None and all(o.picture != size for o in options):
            options.append(VideoOption(size, rendition_bitrate(size, per_720p, min_bps)))
    return tuple(options)


class _LegState:
    __slots__ = (
        "backoff", "choice", "failed", "failed_until", "fits_since", "headroom_since", "hold", "last_switch",
        "last_up", "padding_bar", "probed", "probed_until", "starved_since",
    )

    def __init__(self, choice: Choice) -> None:
        self.choice: Choice = choice
        self.last_switch = float("-inf")
        self.last_up = float("-inf")
        #: since when the link's estimate has not been cut, no padding probe of the leg has failed
        #: and the leg has not switched down: its headroom, kept across up-switches (None: none)
        self.headroom_since: float | None = None
        #: per better picture, since when the estimate has allowed it without a break
        self.fits_since: dict[Picture, float] = {}
        self.hold = UP_HOLD_S
        #: the picture of the last failed probe, not tried again before ``failed_until``
        self.failed: Choice = PAUSED
        self.failed_until = float("-inf")
        self.backoff = FAILED_PROBE_BACKOFF_S
        #: since when not even the smallest picture fits (None: it fits)
        self.starved_since: float | None = None
        #: the picture of the last passed padding probe, and until when it allows an up-switch
        self.probed: Choice = PAUSED
        self.probed_until = float("-inf")
        #: how long the next failed padding probe bars its picture
        self.padding_bar = PADDING_BAR_S


def _level(choice: Choice, options: Sequence[VideoOption]) -> int:
    """Index of ``choice`` among ``options`` (len(options) for paused); a size no longer offered
    maps to the first option no taller than it."""
    if choice == PAUSED:
        return len(options)
    for i, option in enumerate(options):
        if option.picture == choice:
            return i
    if choice is None:
        return 0
    for i, option in enumerate(options):
        if option.picture is not None and option.picture[1] <= choice[1]:
            return i
    return len(options) - 1


def _cheapest(options: Sequence[VideoOption]) -> int:
    """The level of the best picture among those needing the least: renditions have a minimum
    bitrate, so the smallest steps may need the same (240x180 and 120x90 of a 640x480 camera,
    100 kbit/s each), and a leg landing on the smaller of them had one more step to climb back."""
    least = options[-1].need_bps
    return next(i for i, option in enumerate(options) if option.need_bps <= least)


def _choice_at(level: int, options: Sequence[VideoOption]) -> Choice:
    return PAUSED if level >= len(options) else options[level].picture


class RenditionChooser:
    """Per subscriber: each video leg's picture, from the link estimate, with hysteresis."""

    def __init__(self, *, probe_up: bool = False) -> None:
        self._legs: dict[Hashable, _LegState] = {}
        #: switch up only after a passed padding probe (see the module docstring)
        self.probe_up = probe_up
        #: after :meth:`choose`: the padding probe the chooser waits for (None: none)
        self.probe_wanted: ProbeRequest | None = None
        self._last_estimate: float | None = None

    def choose(
        self,
        estimate: float | None,
        audio_bps: float,
        legs: Sequence[VideoLeg],
        now: float,
        *,
        losing: bool = True,
    ) -> tuple[dict[Hashable, Choice], list[Switch]]:
        """Every leg's choice now, and the switches this call made. ``losing``: the link's last
        loss report says it loses packets (2 % or more); a leg is paused only while it does."""
        raw = self._allocate(estimate, audio_bps, legs)
        self.probe_wanted = None
        last, self._last_estimate = self._last_estimate, estimate
        if estimate is not None and last is not None and estimate < last:
            # The link was cut: whatever headroom the legs had is gone.
            for cut in self._legs.values():
                cut.headroom_since = None
        if estimate is None:
            # The link is not limiting (again): what failed on it no longer says anything.
            for forgiven in self._legs.values():
                forgiven.failed_until = float("-inf")
                forgiven.backoff = FAILED_PROBE_BACKOFF_S
                forgiven.hold = UP_HOLD_S
                forgiven.padding_bar = PADDING_BAR_S
        choices: dict[Hashable, Choice] = {}
        switches: list[Switch] = []
        for video in legs:
            if not video.options:
                raise ValueError(f"leg {video.leg!r} has no option")
            wanted = raw[video.leg]
            state = self._legs.get(video.leg)
            if state is None:
                state = self._legs[video.leg] = _LegState(_choice_at(wanted, video.options))
                choices[video.leg] = state.choice
                continue
            switch = self._hysteresis(video.leg, state, wanted, video.options, now, losing)
            if switch is not None:
                switches.append(Switch(video.leg, switch, state.choice))
            choices[video.leg] = state.choice
        return choices, switches

    def next_step(self, above: float, audio_bps: float, legs: Sequence[VideoLeg]) -> float | None:
        """The smallest estimate (within 1 %) at which some leg fits a better picture than the
        one it has: what the link's estimate must reach for the next probe
        (:attr:`~sfu.packet.link_estimate.LinkEstimator.probe_target`). Below ``above`` (the
        estimate now) when one fits already: the estimator grows past the target by a margin,
        and a target that followed the estimate up let it grow without bound (past the link's
        ceiling, which clears it: a 300 kbit/s link was seen sent the source). None when every
        leg has its best (or none has a choice yet)."""
        current = {
            video.leg: _level(state.choice, video.options)
            for video in legs
            if (state := self._legs.get(video.leg)) is not None
        }

        def better(estimate: float) -> bool:
            levels = self._allocate(estimate, audio_bps, legs)
            return any(levels[leg] < level for leg, level in current.items())

        if not any(current.values()):
            return None
        # Equal shares within a priority: every leg gets its best once each share covers the
        # largest best need.
        most = max(video.options[0].need_bps for video in legs)
        low, high = 1.0, max(above, 1.0)
        if not better(high):
            low, high = high, max(high, (most * len(legs) + audio_bps) / HEADROOM)
            if not better(high):
                return None
        while high > low * 1.01:
            middle = (low + high) / 2
            if better(middle):
                high = middle
            else:
                low = middle
        return high

    def probe_result(self, leg: Hashable, picture: Picture, passed: bool, now: float) -> None:
        """The padding probe of ``picture`` on ``leg`` passed (the up-switch may follow) or
        failed (the picture is barred for a few seconds)."""
        state = self._legs.get(leg)
        if state is None:
            return
        if passed:
            state.probed, state.probed_until = picture, now + PROBE_VALID_S
            state.padding_bar = PADDING_BAR_S
            return
        # A bar already running (a failed up-switch's) is not shortened: the picture that
        # failed now is below the one it bars.
        state.headroom_since = None
        state.failed, state.failed_until = picture, max(state.failed_until, now + state.padding_bar)
        state.padding_bar = min(2 * state.padding_bar, MAX_PADDING_BAR_S)

    def remove(self, leg: Hashable) -> None:
        self._legs.pop(leg, None)

    def estimate_for_current(self, audio_bps: float, legs: Sequence[VideoLeg]) -> float:
        """The estimate at which every leg keeps the picture it has (the audio included)."""
        need = audio_bps
        for video in legs:
            state = self._legs.get(video.leg)
            level = len(video.options) if state is None else _level(state.choice, video.options)
            if level < len(video.options):
                need += video.options[level].need_bps
        return need / HEADROOM

    def barred_for(self, leg: Hashable, now: float) -> float:
        """Seconds until the picture of the leg's last failed probe may be tried again (0: it
        may, or none failed)."""
        state = self._legs.get(leg)
        return 0.0 if state is None else max(0.0, state.failed_until - now)

    def choice(self, leg: Hashable) -> Choice:
        state = self._legs.get(leg)
        return None if state is None else state.choice

    # ------------------------------------------------------------ internals

    def _hysteresis(
        self,
        leg: Hashable,
        state: _LegState,
        wanted: int,
        options: Sequence[VideoOption],
        now: float,
        losing: bool,
    ) -> Literal["up", "down"] | None:
        current = _level(state.choice, options)
        if (
            state.last_switch == state.last_up
            and now - state.last_up >= FAILED_PROBE_S
            and current <= _level(state.failed, options)
        ):
            # A probe of the failed picture (or a better one) held: no more backing off. Not a
            # probe of a smaller one: a 500 kbit/s link, its source failed, held 480x360 and
            # was sent the source again every 30 s, 2 s of loss each time.
            state.backoff = FAILED_PROBE_BACKOFF_S
        if wanted < len(options) or not losing:
            # A link that carries the smallest picture without loss is not starved, whatever
            # its estimate says (still low after the cuts of a narrowing, it grows back: a
            # 300 kbit/s link was seen paused at 120x90 with nothing lost).
            state.starved_since = None
        elif state.starved_since is None:
            state.starved_since = now
        starved_for = 0.0 if state.starved_since is None else now - state.starved_since
        if wanted > current:  # worse: down, unless we just switched
            if now - state.last_switch < SWITCH_INTERVAL_S:
                return None
            if wanted == len(options):  # pausing is the last resort:
                cheapest = _cheapest(options)
                if current < cheapest:
                    wanted = cheapest  # the cheapest picture first,
                elif starved_for < PAUSE_AFTER_S:
                    return None  # then paused once even that has not fitted for a while
            # Only the first switch down after an up-switch judges that probe: the next steps
            # down (the link narrowing further, a pause) are not probes failing again (counted
            # as such, they marked the smallest picture failed and kept a leg paused).
            failed_probe = (
                state.last_switch == state.last_up and now - state.last_up < FAILED_PROBE_S
            )
            if failed_probe:
                state.hold = FAILED_PROBE_HOLD_S
                state.failed, state.failed_until = state.choice, now + state.backoff
                state.backoff = min(2 * state.backoff, MAX_FAILED_PROBE_BACKOFF_S)
            state.choice = _choice_at(wanted, options)
            state.last_switch = now
            state.headroom_since = None
            return "down"
        if state.headroom_since is None:
            state.headroom_since = now
        fitting = {options[level].picture for level in range(wanted, current)}
        for picture in [p for p in state.fits_since if p not in fitting]:
            del state.fits_since[picture]
        for picture in fitting:
            state.fits_since.setdefault(picture, now)
        if wanted == current:
            state.choice = _choice_at(
                current, options
            )  # the same level, the option's current picture
            return None
        since_switch = now - state.last_switch
        if since_switch < PROBE_AFTER_SWITCH_S or (not self.probe_up and since_switch < SWITCH_INTERVAL_S):
            return None
        probed = _level(state.probed, options) if now < state.probed_until else len(options)
        if self.probe_up and probed >= current:
            # No passed probe waits for its switch: ask for one. It runs during the last
            # PROBE_LEAD_S of the wait, so that its verdict is in when the switch is due.
            early = self._up_target(state, wanted, current, options, now, PROBE_LEAD_S)
            if early is not None:
                self.probe_wanted = self.probe_wanted or ProbeRequest(
                    leg,
                    options[early].picture,
                    (SOURCE_PROBE_MARGIN if options[early].picture is None else 1.0) * options[early].need_bps
                    - (options[current].need_bps if current < len(options) else 0.0),
                )
            return None
        target = self._up_target(state, wanted, current, options, now, 0.0)
        if target is None or since_switch < SWITCH_INTERVAL_S:
            return None
        if self.probe_up:
            # To the picture probed, not a better one the estimate allows meanwhile (it grows
            # fast after a pass): asked for instead, a probe of 480x360 after one of 320x240 had
            # passed kept a 250 kbit/s link at 240x180, each new probe failing.
            target = max(target, probed)
        state.choice = _choice_at(target, options)
        state.last_switch = state.last_up = now
        state.hold = UP_HOLD_S  # the longer hold was for this up-switch only
        return "up"

    @staticmethod
    def _up_target(
        state: _LegState, wanted: int, current: int, options: Sequence[VideoOption], now: float, lead: float
    ) -> int | None:
        """The level to switch up to ``lead`` seconds from now: the best picture that fits, once
        the leg has had ``hold`` seconds of headroom by then, below any barred one (None: none)."""
        if now - state.last_up < NEXT_UP_AFTER_S - lead:
            return None
        if state.headroom_since is None or now - state.headroom_since < state.hold - lead:
            return None
        ready = [
            level
            for level in range(wanted, current)
            if now - state.fits_since[options[level].picture] >= FITS_FOR_S - lead
        ]
        if not ready:
            return None
        target = min(ready)
        if now < state.failed_until:
            failed = _level(state.failed, options)
            if target <= failed:
                target = failed + 1  # not the picture that just failed (nor better): one below
            if target >= current:
                return None
        return target

    @staticmethod
    def _allocate(
        estimate: float | None, audio_bps: float, legs: Sequence[VideoLeg]
    ) -> dict[Hashable, int]:
        """The level each leg fits right now (no hysteresis)."""
        if estimate is None:
            return {video.leg: 0 for video in legs}
        remaining = max(0.0, estimate * HEADROOM - audio_bps)
        levels: dict[Hashable, int] = {}
        priorities = sorted({video.priority for video in legs})
        for priority in priorities:
            group = [video for video in legs if video.priority == priority]
            group_min = sum(video.options[-1].need_bps for video in group)
            reserve = sum(video.options[-1].need_bps for video in legs if video.priority > priority)
            available = remaining - reserve if remaining - reserve >= group_min else remaining
            spent = 0.0
            for i, video in enumerate(group):
                share = max(0.0, available - spent) / (len(group) - i)
                level = next(
                    (j for j, o in enumerate(video.options) if o.need_bps <= share),
                    len(video.options),
                )
                levels[video.leg] = level
                if level < len(video.options):
                    spent += video.options[level].need_bps
            remaining = max(0.0, remaining - spent)
        return levels
