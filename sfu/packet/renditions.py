"""Which source each leg of a producer gets, which renditions are needed, and when one may stop.

A subscriber asks for a maximum size (its tile on screen, a data-saving choice). When the
source fits, the subscriber gets the publisher's stream as is (passthrough, no decode).
Otherwise it gets a rendition: the source decoded once, scaled to a step of a fixed height
ladder, encoded once and shared by every subscriber that wants that step. A fixed ladder
(rather than each subscriber's exact size) keeps the number of encoders small. With a frame
transform on (a background effect), every leg gets a rendition, at the source size when its
cap allows, so the effect reaches everyone.

``RenditionDemand`` is the decision for one producer, sans I/O: each leg's explicit cap (from
the subscriber), its limit (from its link's bandwidth estimate, issue 15: the two combine, the
smaller wins), paused or not; the source size and whether a transform is on. From these it
answers each leg's target (a size, passthrough or paused), the sizes whose encoders must
run, whether the producer must be decoded at all (also to learn its size), and which sizes
have been unused long enough that the shell should stop their encoders (``idle_sizes``). A
short grace period avoids stopping and restarting an encoder when a subscriber's layout flips.
"""

from collections.abc import Hashable
from typing import Literal, TypeAlias

LADDER_HEIGHTS = (720, 540, 360, 240, 180, 90)

Size: TypeAlias = tuple[int, int]
Target: TypeAlias = Size | Literal["paused"] | None
#: (max_width, max_height); None: no bound on that dimension
Cap: TypeAlias = tuple[int | None, int | None]
NO_CAP: Cap = (None, None)
PAUSED: Literal["paused"] = "paused"


class RenditionError(ValueError):
    """Invalid size, cap or consumer state."""


def _check_dimension(name: str, value: int | None, optional: bool) -> None:
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        rule = "a positive int or None" if optional else "a positive int"
        raise RenditionError(f"{name} must be {rule}, got {value!r}")


def _even(x: float) -> int:
    return max(2, round(x / 2.0) * 2)


def _even_floor(x: float) -> int:
    return max(2, int(x) // 2 * 2)


def target_size(source_w: int, source_h: int, max_w: int | None, max_h: int | None) -> Size | None:
    """The rendition size for a consumer capped at (max_w, max_h); None means passthrough.

    The result keeps the source's aspect ratio, has even dimensions, a height taken from
    ``LADDER_HEIGHTS`` no larger than the cap and the source (never upscaled), and a width no
    larger than ``max_w`` when given. A cap below the smallest step gets the smallest step; a
    source shorter than the smallest step is scaled down to fit the cap (off the ladder).
    """
    _check_dimension("source_w", source_w, optional=False)
    _check_dimension("source_h", source_h, optional=False)
    _check_dimension("max_w", max_w, optional=True)
    _check_dimension("max_h", max_h, optional=True)
    if (max_w is None or source_w <= max_w) and (max_h is None or source_h <= max_h):
        return None
    smallest: Size | None = None
    for height in LADDER_HEIGHTS:
        if height > source_h:
            continue  # never upscale
        size = (_even(source_w * height / source_h), height)
        smallest = size
        if (max_h is None or height <= max_h) and (max_w is None or size[0] <= max_w):
            return size
    if smallest is not None:
        return smallest
    # Source shorter than every step yet over the cap: scale down to fit, off the ladder.
    scale = min(
        (max_w / source_w) if max_w is not None else 1.0,
        (max_h / source_h) if max_h is not None else 1.0,
    )
    height = _even_floor(source_h * scale)
    width = _even(source_w * height / source_h)
    if max_w is not None:
        width = min(width, _even_floor(max_w))
    return (width, height)


class _LegDemand:
    """One leg's inputs (cap, limit, paused by the subscriber or by its link) and the target
    they resolve to."""

    __slots__ = ("cap", "limit", "limit_paused", "paused", "target")

    def __init__(self) -> None:
        self.cap: Cap = NO_CAP
        self.limit: Cap = NO_CAP
        self.paused = False
        self.limit_paused = False
        self.target: Size | None = None

    @property
    def effective(self) -> Target:
        return PAUSED if self.off else self.target

    @property
    def off(self) -> bool:
        return self.paused or self.limit_paused


def _tighter(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


class RenditionDemand:
    """Per-producer decision: which source each leg gets, and which renditions must run."""

    __slots__ = ("_active", "_legs", "_source_size", "_transform", "_unused_since")

    def __init__(self, source_size: Size | None = None) -> None:
        if source_size is not None:
            _check_dimension("source width", source_size[0], optional=False)
            _check_dimension("source height", source_size[1], optional=False)
        self._source_size = source_size
        self._transform = False
        self._legs: dict[Hashable, _LegDemand] = {}
        # Sizes the shell runs encoders for, and since when nobody needs them
        # (absent or None: in use, or unused since a time not known yet: the next poll).
        self._active: set[Size] = set()
        self._unused_since: dict[Size, float | None] = {}

    @property
    def source_size(self) -> Size | None:
        return self._source_size

    @property
    def transform(self) -> bool:
        return self._transform

    # -- legs ---------------------------------------------------------------------------------

    def set_preference(
        self, leg: Hashable, max_w: int | None, max_h: int | None, paused: bool, now: float | None = None
    ) -> Target:
        """The subscriber's explicit choice for this leg (a new leg starts here); returns its target.

        With the source size still unknown a capped leg's target is passthrough until
        ``set_source_size`` re-evaluates it.
        """
        _check_dimension("max_w", max_w, optional=True)
        _check_dimension("max_h", max_h, optional=True)
        if not isinstance(paused, bool):
            raise RenditionError(f"paused must be a bool, got {paused!r}")
        demand = self._legs.get(leg)
        if demand is None:
            demand = self._legs[leg] = _LegDemand()
        old = demand.effective
        demand.cap = (max_w, max_h)
        demand.paused = paused
        demand.target = self._target_for(demand)
        self._changed(old, demand.effective, now)
        return demand.effective

    def set_limit(
        self, leg: Hashable, max_w: int | None, max_h: int | None, now: float | None = None, *, paused: bool = False
    ) -> Target:
        """A limit on this leg from its link (issue 15: the bandwidth estimate); returns its target.

        Combined with the explicit cap, the smaller wins on each dimension; (None, None)
        lifts the limit. ``paused``: the link cannot carry even the smallest picture.
        """
        _check_dimension("max_w", max_w, optional=True)
        _check_dimension("max_h", max_h, optional=True)
        if not isinstance(paused, bool):
            raise RenditionError(f"paused must be a bool, got {paused!r}")
        demand = self._get(leg)
        old = demand.effective
        demand.limit = (max_w, max_h)
        demand.limit_paused = paused
        demand.target = self._target_for(demand)
        self._changed(old, demand.effective, now)
        return demand.effective

    def remove(self, leg: Hashable, now: float | None = None) -> None:
        """Forget a leg (unknown legs are ignored: removal is idempotent)."""
        demand = self._legs.pop(leg, None)
        if demand is not None:
            self._changed(demand.effective, PAUSED, now)

    def target(self, leg: Hashable) -> Target:
        """A leg's current target: a rendition size, None (passthrough) or "paused"."""
        return self._get(leg).effective

    def legs(self) -> list[Hashable]:
        return list(self._legs)

    def explicit(self, leg: Hashable) -> tuple[Cap, bool]:
        """The subscriber's own cap and pause for this leg (what a link limit works under)."""
        demand = self._get(leg)
        return demand.cap, demand.paused

    # -- facts about the producer ---------------------------------------------------------------

    def set_source_size(self, width: int, height: int, now: float | None = None) -> dict[Hashable, Target]:
        """The publisher's resolution is known or changed: every leg's target re-evaluated.

        Returns ``{leg: new_target}`` for the legs whose target changed, so the shell can
        rewire them (a paused leg's new target applies when it resumes: not listed).
        """
        _check_dimension("width", width, optional=False)
        _check_dimension("height", height, optional=False)
        self._source_size = (width, height)
        return self._re_evaluate(now)

    def set_transform(self, on: bool, now: float | None = None) -> dict[Hashable, Target]:
        """A frame transform was switched on or off; returns the legs whose target changed."""
        self._transform = bool(on)
        return self._re_evaluate(now)

    # -- demand -----------------------------------------------------------------------------

    def needed_sizes(self) -> set[Size]:
        """Rendition sizes at least one unpaused leg needs."""
        return {d.target for d in self._legs.values() if not d.off and d.target is not None}

    def largest_needed_height(self) -> int | None:
        """The largest picture height any unpaused leg can use, given its cap and its link's
        limit (a width-only cap counts at the source's aspect ratio); None when some leg takes
        any size, when a width-only cap meets an unknown source size, or when no leg watches.
        What the publisher need not exceed (issue 15: ``UpstreamRequest``)."""
        largest = 0
        for d in self._legs.values():
            if d.off:
                continue
            max_w = _tighter(d.cap[0], d.limit[0])
            max_h = _tighter(d.cap[1], d.limit[1])
            if max_w is not None and self._source_size is not None:
                src_w, src_h = self._source_size
                from_width = max_w * src_h // src_w
                max_h = from_width if max_h is None else min(max_h, from_width)
            if max_h is None:
                return None
            largest = max(largest, max_h)
        return largest or None

    def needs_source_size(self) -> bool:
        """The source size is unknown and something depends on it (a capped leg, a transform)."""
        if self._source_size is not None:
            return False
        return self._transform or any(
            not d.off and (d.cap != NO_CAP or d.limit != NO_CAP) for d in self._legs.values()
        )

    def needs_decode(self) -> bool:
        """True when the producer must be decoded: a rendition runs (or is in its grace
        period), or the source size must be learnt from decoded pictures."""
        return bool(self._active) or self.needs_source_size()

    def needs_passthrough(self) -> bool:
        """True when some unpaused leg takes the publisher's stream as is."""
        return any(not d.off and d.target is None for d in self._legs.values())

    # -- encoder lifetime -----------------------------------------------------------------

    def idle_sizes(self, now: float, idle_after: float = 1.5) -> list[Size]:
        """Sizes unused for ``idle_after`` seconds: the shell stops their encoders.

        Each is returned once and forgotten (a leg that wants it later starts it again).
        Poll at least every ``2 - idle_after`` seconds to stop an encoder within 2 s of its
        last use.
        """
        needed = self.needed_sizes()
        idle: list[Size] = []
        for size in list(self._active):
            if size in needed:
                self._unused_since.pop(size, None)
                continue
            since = self._unused_since.get(size)
            if since is None:
                self._unused_since[size] = since = now
            if now - since >= idle_after:
                idle.append(size)
                self._active.discard(size)
                del self._unused_since[size]
        return sorted(idle)

    def active_sizes(self) -> set[Size]:
        """Sizes whose encoders the shell should be running (needed, or within the grace)."""
        return set(self._active)

    def dump(self) -> dict[str, object]:
        return {
            "source_size": self._source_size,
            "transform": self._transform,
            "legs": {str(leg): d.effective for leg, d in self._legs.items()},
            "needed_sizes": sorted(self.needed_sizes()),
            "active_sizes": sorted(self._active),
            "unused_since": {str(k): v for k, v in self._unused_since.items()},
        }

    # -- internals --------------------------------------------------------------------------

    def _get(self, leg: Hashable) -> _LegDemand:
        demand = self._legs.get(leg)
        if demand is None:
            raise RenditionError(f"leg {leg!r} is not known")
        return demand

    def _target_for(self, demand: _LegDemand) -> Size | None:
        source = self._source_size
        if source is None:
            return None
        max_w = _tighter(demand.cap[0], demand.limit[0])
        max_h = _tighter(demand.cap[1], demand.limit[1])
        size = target_size(source[0], source[1], max_w, max_h)
        if size is None and self._transform:
            return source  # the effect is applied for everyone: a rendition at the source size
        return size

    def _re_evaluate(self, now: float | None) -> dict[Hashable, Target]:
        changed: dict[Hashable, Target] = {}
        for leg, demand in self._legs.items():
            new_target = self._target_for(demand)
            if new_target != demand.target:
                old = demand.effective
                demand.target = new_target
                self._changed(old, demand.effective, now)
                if not demand.off:
                    changed[leg] = new_target
        return changed

    def _changed(self, old: Target, new: Target, now: float | None) -> None:
        if old == new:
            return
        if isinstance(new, tuple):
            self._active.add(new)
            self._unused_since.pop(new, None)
        if isinstance(old, tuple) and old not in self.needed_sizes() and self._unused_since.get(old) is None:
            self._unused_since[old] = now
