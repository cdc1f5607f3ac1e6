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
many steps, except that a leg is paused only from its smallest picture, once that has not
fitted for ``PAUSE_AFTER_S``); a switch up (or a resume) only after a better option has fitted for
``UP_HOLD_S`` (5 s) without a break, to the best option that fitted the whole time. An
up-switch followed within ``FAILED_PROBE_S`` by a switch down was a failed probe: the next
up-switch waits ``FAILED_PROBE_HOLD_S`` (10 s), and the picture that failed (or a better one)
is not tried again for ``FAILED_PROBE_BACKOFF_S`` (30 s, doubling to 120 s while probes fail).
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
FAILED_PROBE_S = 10.0
FAILED_PROBE_HOLD_S = 10.0
#: The picture of a failed probe is not tried again for this long, doubling while probes keep
#: failing (a link that carries 480x360 but not the source stays at 480x360).
FAILED_PROBE_BACKOFF_S = 30.0
MAX_FAILED_PROBE_BACKOFF_S = 120.0

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
        "backoff", "choice", "failed", "failed_until", "hold", "last_switch", "last_up",
        "starved_since", "up_best", "up_since",
    )

    def __init__(self, choice: Choice) -> None:
        self.choice: Choice = choice
        self.last_switch = float("-inf")
        self.last_up = float("-inf")
        self.up_since: float | None = None
        self.up_best = 0
        self.hold = UP_HOLD_S
        #: the picture of the last failed probe, not tried again before ``failed_until``
        self.failed: Choice = PAUSED
        self.failed_until = float("-inf")
        self.backoff = FAILED_PROBE_BACKOFF_S
        #: since when not even the smallest picture fits (None: it fits)
        self.starved_since: float | None = None


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


def _choice_at(level: int, options: Sequence[VideoOption]) -> Choice:
    return PAUSED if level >= len(options) else options[level].picture


class RenditionChooser:
    """Per subscriber: each video leg's picture, from the link estimate, with hysteresis."""

    def __init__(self) -> None:
        self._legs: dict[Hashable, _LegState] = {}

    def choose(
        self, estimate: float | None, audio_bps: float, legs: Sequence[VideoLeg], now: float
    ) -> tuple[dict[Hashable, Choice], list[Switch]]:
        """Every leg's choice now, and the switches this call made."""
        raw = self._allocate(estimate, audio_bps, legs)
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
            switch = self._hysteresis(state, wanted, video.options, now)
            if switch is not None:
                switches.append(Switch(video.leg, switch, state.choice))
            choices[video.leg] = state.choice
        return choices, switches

    def next_step(self, above: float, audio_bps: float, legs: Sequence[VideoLeg]) -> float | None:
        """The smallest estimate (within 1 %) from ``above`` up at which some leg fits a better
        picture than the one it has: how far the link's estimate must grow for the next probe
        (:attr:`~sfu.packet.link_estimate.LinkEstimator.probe_target`). ``above`` itself when
        one fits already; None when every leg has its best (or none has a choice yet)."""
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
        high = (most * len(legs) + audio_bps) / HEADROOM
        low = max(above, 1.0)
        if better(low):
            return low
        if not better(high):
            return None
        while high > low * 1.01:
            middle = (low + high) / 2
            if better(middle):
                high = middle
            else:
                low = middle
        return high

    def remove(self, leg: Hashable) -> None:
        self._legs.pop(leg, None)

    def choice(self, leg: Hashable) -> Choice:
        state = self._legs.get(leg)
        return None if state is None else state.choice

    # ------------------------------------------------------------ internals

    def _hysteresis(
        self, state: _LegState, wanted: int, options: Sequence[VideoOption], now: float
    ) -> Literal["up", "down"] | None:
        current = _level(state.choice, options)
        if state.last_switch == state.last_up and now - state.last_up >= FAILED_PROBE_S:
            state.backoff = FAILED_PROBE_BACKOFF_S  # the last probe held: no more backing off
        if wanted < len(options):
            state.starved_since = None
        elif state.starved_since is None:
            state.starved_since = now
        starved_for = 0.0 if state.starved_since is None else now - state.starved_since
        if wanted > current:  # worse: down, unless we just switched
            state.up_since = None
            if now - state.last_switch < SWITCH_INTERVAL_S:
                return None
            if wanted == len(options):  # pausing is the last resort:
                if current < len(options) - 1:
                    wanted = len(options) - 1  # the smallest picture first,
                elif starved_for < PAUSE_AFTER_S:
                    return None  # then paused once even that has not fitted for a while
            failed_probe = now - state.last_up < FAILED_PROBE_S
            state.hold = FAILED_PROBE_HOLD_S if failed_probe else UP_HOLD_S
            if failed_probe:
                state.failed, state.failed_until = state.choice, now + state.backoff
                state.backoff = min(2 * state.backoff, MAX_FAILED_PROBE_BACKOFF_S)
            state.choice = _choice_at(wanted, options)
            state.last_switch = now
            return "down"
        if wanted == current:
            state.up_since = None
            state.choice = _choice_at(
                current, options
            )  # the same level, the option's current picture
            return None
        if state.up_since is None:
            state.up_since, state.up_best = now, wanted
            return None
        state.up_best = max(state.up_best, wanted)  # the best level that fitted the whole time
        if now - state.up_since < state.hold or now - state.last_switch < SWITCH_INTERVAL_S:
            return None
        target = state.up_best
        if now < state.failed_until:
            failed = _level(state.failed, options)
            if target <= failed:
                target = failed + 1  # not the picture that just failed (nor better): one below
            if target >= current:
                return None
        state.choice = _choice_at(target, options)
        state.last_switch = state.last_up = now
        state.up_since = None
        return "up"

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
