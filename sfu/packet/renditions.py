"""Which scaled renditions of a producer are needed, and when an unused one may stop.

A subscriber asks for a maximum size (its tile on screen, or a bandwidth cap). When the source
fits, the subscriber gets the publisher's stream as is (passthrough, no decode). Otherwise it
gets a rendition: the source decoded once, scaled to a step of a fixed height ladder, encoded
once and shared by every subscriber that wants that step. A fixed ladder (rather than each
subscriber's exact size) keeps the number of encoders small.

``RenditionDemand`` is the bookkeeping for one producer: consumers' caps and states, the
resulting set of needed sizes, whether the producer must be decoded at all, and which sizes
have been unused long enough that the shell should stop their encoders (``idle_sizes``). A
short grace period avoids stopping and restarting an encoder when a subscriber's layout flips.
"""

from collections.abc import Hashable
from typing import Literal, TypeAlias

LADDER_HEIGHTS = (720, 540, 360, 270, 180, 90)

Size: TypeAlias = tuple[int, int]
Target: TypeAlias = Size | Literal["paused"] | None
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


class _Consumer:
    __slots__ = ("cap", "paused", "target")

    def __init__(self) -> None:
        self.cap: tuple[int | None, int | None] | None = None  # None: target set explicitly
        self.paused = False
        self.target: Size | None = None


class RenditionDemand:
    """Per-producer demand for renditions, from its consumers' caps or explicit targets."""

    __slots__ = ("_active", "_consumers", "_source_size", "_unused_since")

    def __init__(self, source_size: Size | None = None) -> None:
        if source_size is not None:
            _check_dimension("source width", source_size[0], optional=False)
            _check_dimension("source height", source_size[1], optional=False)
        self._source_size = source_size
        self._consumers: dict[Hashable, _Consumer] = {}
        # Sizes the shell runs encoders for, and since when nobody needs them
        # (absent or None: in use, or unused since a time not known yet: the next poll).
        self._active: set[Size] = set()
        self._unused_since: dict[Size, float | None] = {}

    @property
    def source_size(self) -> Size | None:
        return self._source_size

    # -- consumers ------------------------------------------------------------------------

    def set_consumer(self, consumer_id: Hashable, size: Target, now: float | None = None) -> None:
        """Set a consumer's demand directly: a rendition size, None (passthrough) or "paused".

        "paused" keeps the consumer's cap (if any) so ``resume_consumer`` can restore it.
        """
        consumer = self._consumers.get(consumer_id)
        if consumer is None:
            consumer = self._consumers[consumer_id] = _Consumer()
        old = self._effective(consumer)
        if size == PAUSED:
            consumer.paused = True
        elif size is None or (
            isinstance(size, tuple)
            and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
        ):
            consumer.cap = None
            consumer.paused = False
            consumer.target = size
        else:
            raise RenditionError(
                f"size must be (width, height) positive ints, None or 'paused', got {size!r}"
            )
        self._changed(old, self._effective(consumer), now)

    def set_consumer_cap(
        self,
        consumer_id: Hashable,
        max_w: int | None,
        max_h: int | None,
        now: float | None = None,
    ) -> Size | None:
        """Set a consumer's size cap; returns its target (None: passthrough). Unpauses it.

        With the source size still unknown the target is passthrough until
        ``set_source_size`` re-evaluates it.
        """
        _check_dimension("max_w", max_w, optional=True)
        _check_dimension("max_h", max_h, optional=True)
        consumer = self._consumers.get(consumer_id)
        if consumer is None:
            consumer = self._consumers[consumer_id] = _Consumer()
        old = self._effective(consumer)
        consumer.cap = (max_w, max_h)
        consumer.paused = False
        consumer.target = self._target_for(consumer.cap)
        self._changed(old, consumer.target, now)
        return consumer.target

    def resume_consumer(self, consumer_id: Hashable, now: float | None = None) -> Target:
        """Unpause a consumer, keeping its cap or explicit target; returns its demand."""
        consumer = self._get(consumer_id)
        old = self._effective(consumer)
        consumer.paused = False
        self._changed(old, consumer.target, now)
        return consumer.target

    def remove_consumer(self, consumer_id: Hashable, now: float | None = None) -> None:
        """Forget a consumer (unknown ids are ignored: removal is idempotent)."""
        consumer = self._consumers.pop(consumer_id, None)
        if consumer is not None:
            self._changed(self._effective(consumer), PAUSED, now)

    def consumer_target(self, consumer_id: Hashable) -> Target:
        """A consumer's current demand: size, None (passthrough) or "paused"."""
        return self._effective(self._get(consumer_id))

    def set_source_size(
        self, width: int, height: int, now: float | None = None
    ) -> dict[Hashable, Size | None]:
        """The publisher's resolution changed: re-evaluate every capped consumer's target.

        Returns ``{consumer_id: new_target}`` for the consumers whose target changed (paused
        ones included, their new target applies on resume), so the shell can rewire their legs.
        """
        _check_dimension("width", width, optional=False)
        _check_dimension("height", height, optional=False)
        self._source_size = (width, height)
        changed: dict[Hashable, Size | None] = {}
        for consumer_id, consumer in self._consumers.items():
            if consumer.cap is None:
                continue
            new_target = self._target_for(consumer.cap)
            if new_target != consumer.target:
                old = self._effective(consumer)
                consumer.target = new_target
                changed[consumer_id] = new_target
                self._changed(old, self._effective(consumer), now)
        return changed

    # -- demand -----------------------------------------------------------------------------

    def needed_sizes(self) -> set[Size]:
        """Rendition sizes at least one unpaused consumer needs."""
        return {c.target for c in self._consumers.values() if not c.paused and c.target is not None}

    def needs_decode(self) -> bool:
        """True when the producer must be decoded (some unpaused consumer needs a rendition)."""
        return any(not c.paused and c.target is not None for c in self._consumers.values())

    def needs_passthrough(self) -> bool:
        """True when some unpaused consumer takes the publisher's stream as is."""
        return any(not c.paused and c.target is None for c in self._consumers.values())

    def consumer_ids(self) -> list[Hashable]:
        return list(self._consumers)

    # -- encoder lifetime -----------------------------------------------------------------

    def touch(self, size: Size, now: float | None = None) -> None:
        """``size`` is in use: its encoder should run (``now`` is accepted for symmetry)."""
        self._active.add(size)
        self._unused_since.pop(size, None)

    def mark_unused(self, size: Size, now: float | None) -> None:
        """``size`` lost its last consumer at ``now`` (None: start counting at the next poll)."""
        if size in self._active and self._unused_since.get(size) is None:
            self._unused_since[size] = now

    def idle_sizes(self, now: float, idle_after: float = 1.5) -> list[Size]:
        """Sizes unused for ``idle_after`` seconds: the shell stops their encoders.

        Each is returned once and forgotten (a later consumer ``touch``es it again). Poll at
        least every ``2 - idle_after`` seconds to stop an encoder within 2 s of its last use.
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
            "consumers": {str(cid): self._effective(c) for cid, c in self._consumers.items()},
            "needed_sizes": sorted(self.needed_sizes()),
            "active_sizes": sorted(self._active),
            "unused_since": {str(k): v for k, v in self._unused_since.items()},
        }

    # -- internals --------------------------------------------------------------------------

    def _get(self, consumer_id: Hashable) -> _Consumer:
        consumer = self._consumers.get(consumer_id)
        if consumer is None:
            raise RenditionError(f"consumer_id {consumer_id!r} is not known")
        return consumer

    def _target_for(self, cap: tuple[int | None, int | None]) -> Size | None:
        if self._source_size is None:
            return None
        return target_size(self._source_size[0], self._source_size[1], cap[0], cap[1])

    @staticmethod
    def _effective(consumer: _Consumer) -> Target:
        return PAUSED if consumer.paused else consumer.target

    def _changed(self, old: Target, new: Target, now: float | None) -> None:
        if old == new:
            return
        if isinstance(new, tuple):
            self.touch(new, now)
        if isinstance(old, tuple) and old not in self.needed_sizes():
            self.mark_unused(old, now)
