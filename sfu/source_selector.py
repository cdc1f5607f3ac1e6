"""Which source each leg of one producer gets: the producer's decision, made real.

One :class:`SourceSelector` per producer. It takes, per leg, the subscriber's explicit
:class:`~sfu.preference.Preference` (and, with issue 15, a limit from the leg's bandwidth
estimate: :meth:`RenditionDemand.set_limit`), and from the producer the facts the choice
depends on (the source size, a frame transform). The choice itself is the sans-I/O
:class:`~sfu.packet.RenditionDemand`; this shell carries it out:

* it hands each leg its source (``Leg.switch_to``): the producer's passthrough, a
  :class:`Rendition`, or nothing (paused);
* it keeps one :class:`Rendition` per size the demand says is active, and runs the
  :class:`~sfu.rendition_pipeline.RenditionPipeline` (decode -> transform -> scale -> encode)
  while a size, a transform or the need to learn the source size requires it;
* renditions nobody uses stop after ``idle_stop_s`` (the demand's grace), the pipeline with
  the last one.

A subscriber's cap therefore goes straight down: the room gives it to the producer's
selector, the demand turns it into a target, the selector attaches the leg to that target's
source and tells the pipeline which sizes to encode.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable

from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from sfu.config import RenditionConfig
from sfu.ids import ConsumerId
from sfu.packet.renditions import PAUSED, Cap, RenditionDemand, Size, Target
from sfu.preference import Preference
from sfu.rendition_pipeline import RenditionPipeline
from sfu.source import ForwardedPacket, Leg, MediaSource, PacketSink, next_source_id
from sfu.stats import SfuCounters
from sfu.transform import FrameTransform

logger = logging.getLogger(__name__)


class Rendition:
    """One output size of a producer, encoded once and shared: a :class:`~sfu.source.MediaSource`."""

    def __init__(self, size: Size, force_keyframe: Callable[[Size], None]) -> None:
        self.size = size
        self.source_id = next_source_id()
        self.consumers: set[PacketSink] = set()
        self.frames = 0
        self._force_keyframe = force_keyframe
        self._seq = 0

    def request_keyframe(self, now: float) -> None:
        # Our own encoder: no network round trip, no throttle needed beyond one per frame.
        self._force_keyframe(self.size)

    def deliver(self, payloads: list[bytes], timestamp: int, keyframe: bool, now: float) -> None:
        """One encoded picture: its packets to every consumer of this size."""
        self.frames += 1
        last = len(payloads) - 1
        for i, payload in enumerate(payloads):
            self._seq = (self._seq + 1) & 0xFFFF
            pkt = ForwardedPacket(payload, int(i == last), self._seq, timestamp, keyframe and i == 0, i == 0, None)
            for consumer in tuple(self.consumers):
                consumer.on_packet(self, pkt, now)


class SourceSelector:
    """Per producer: each leg's source, from its preference and the producer's facts."""

    def __init__(
        self,
        *,
        passthrough: MediaSource,
        video: bool,
        name: str,
        config: RenditionConfig,
        counters: SfuCounters,
        request_keyframe: Callable[[float], None],
        on_decoded_size: Callable[[Size, float], None],
    ) -> None:
        self._passthrough = passthrough
        self._video = video
        self._name = name
        self._config = config
        self._counters = counters
        self._request_keyframe = request_keyframe
        self._on_decoded_size = on_decoded_size
        self._demand = RenditionDemand()
        self._legs: dict[ConsumerId, Leg] = {}
        self._codec: RTCRtpCodecParameters | None = None
        self._transform: FrameTransform | None = None
        self._retired: list[FrameTransform] = []
        self._closed = False
        #: one per active size (needed, or unused and within its grace period)
        self.renditions: dict[Size, Rendition] = {}
        #: running while a rendition, a transform or learning the source size needs it
        self.pipeline: RenditionPipeline | None = None
        self._stopping: RenditionPipeline | None = None

    @property
    def transform(self) -> FrameTransform | None:
        return self._transform

    @property
    def decoding(self) -> bool:
        """A pipeline runs or is still stopping (its worker may finish a picture)."""
        return self.pipeline is not None or self._stopping is not None

    def set_codec(self, codec: RTCRtpCodecParameters) -> None:
        """What the publisher sends (the pipeline decodes and encodes it)."""
        self._codec = codec

    # ------------------------------------------------------------ legs

    def attach(self, leg: Leg, now: float) -> None:
        """A new leg, with no cap: it gets its source at once."""
        self._legs[leg.id] = leg
        self._demand.set_preference(leg.id, None, None, False, now)
        self._apply(leg, now)
        self._sync_pipeline(now)

    def detach(self, leg: Leg, now: float) -> None:
        """The leg is gone (its consumer detaches itself from its sources when it closes)."""
        if self._legs.pop(leg.id, None) is not None:
            self._demand.remove(leg.id, now)

    def set_preference(self, leg: Leg, preference: Preference, now: float) -> None:
        """The subscriber's explicit choice for this leg."""
        if self._legs.get(leg.id) is not leg:
            return
        self._demand.set_preference(leg.id, preference.max_width, preference.max_height, preference.paused, now)
        self._apply(leg, now)
        self._sync_pipeline(now)

    def set_limit(self, leg: Leg, limit: Size | None, paused: bool, now: float) -> None:
        """A limit from the leg's link (issue 15: its bandwidth estimate, chosen by the
        subscriber's :class:`~sfu.link_adaptation.LinkAdapter`); None lifts it."""
        if self._legs.get(leg.id) is not leg:
            return
        max_w, max_h = (None, None) if limit is None else limit
        before = self._demand.target(leg.id)
        if self._demand.set_limit(leg.id, max_w, max_h, now, paused=paused) != before:
            self._apply(leg, now)
            self._sync_pipeline(now)

    def explicit(self, leg: Leg) -> tuple[Cap, bool] | None:
        """The subscriber's own cap and pause for this leg (None: not a leg of ours)."""
        if self._legs.get(leg.id) is not leg:
            return None
        return self._demand.explicit(leg.id)

    @property
    def source_size(self) -> Size | None:
        return self._demand.source_size

    def largest_needed_height(self) -> int | None:
        """The largest height any watching leg can use (None: some leg takes any size)."""
        return self._demand.largest_needed_height()

    # ------------------------------------------------------------ facts from the producer

    def set_source_size(self, size: Size, now: float) -> None:
        """The producer learnt (or saw a change of) its source size."""
        self._rewire(self._demand.set_source_size(size[0], size[1], now), now)

    def set_transform(self, transform: FrameTransform | None, now: float) -> None:
        """Apply a frame transform (e.g. a background effect) for every leg."""
        if not self._video:
            raise ValueError("transforms apply to video producers only")
        old = self._transform
        self._transform = transform
        if self.pipeline is not None:
            self.pipeline.set_transform(transform)
        elif old is not None and old is not transform:
            self._retired.append(old)
        self._rewire(self._demand.set_transform(transform is not None, now), now)

    def _rewire(self, changed: dict[Hashable, Target], now: float) -> None:
        for leg_id, leg in list(self._legs.items()):
            if leg_id in changed:
                self._apply(leg, now)
        self._sync_pipeline(now)

    # ------------------------------------------------------------ carrying the decision out

    def _apply(self, leg: Leg, now: float) -> None:
        target = self._demand.target(leg.id)
        source: MediaSource | None
        if target == PAUSED:
            source = None
        elif target is None:
            source = self._passthrough
        else:
            source = self._rendition(target)
        leg.switch_to(source, now)

    def _rendition(self, size: Size) -> Rendition:
        rendition = self.renditions.get(size)
        if rendition is None:
            rendition = self.renditions[size] = Rendition(size, self._force_keyframe)
            self._counters.renditions_started += 1
        return rendition

    def _force_keyframe(self, size: Size) -> None:
        if self.pipeline is not None:
            self.pipeline.force_keyframe(size)

    def _pipeline_needed(self) -> bool:
        return self._video and (self._demand.needs_decode() or self._transform is not None)

    def _sync_pipeline(self, now: float) -> None:
        """Start the pipeline when needed and tell it the sizes (stopping it waits for the tick)."""
        if self._closed or not self._pipeline_needed():
            return
        if self.pipeline is None:
            if self._codec is None:
                return  # the codec is not negotiated yet: the next tick tries again
            self.pipeline = RenditionPipeline(
                name=self._name,
                codec=self._codec,
                config=self._config,
                counters=self._counters,
                on_size=self._on_decoded_size,
                on_encoded=self._on_encoded,
                request_keyframe=self._request_keyframe,
            )
            for transform in self._retired:
                self.pipeline.retire(transform)
            self._retired.clear()
            self.pipeline.set_transform(self._transform)
            self.pipeline.set_sizes(set(self.renditions))
            self.pipeline.start(now)
        else:
            self.pipeline.set_sizes(set(self.renditions))

    def _on_encoded(self, size: Size, payloads: list[bytes], timestamp: int, keyframe: bool, now: float) -> None:
        rendition = self.renditions.get(size)
        if rendition is not None:
            rendition.deliver(payloads, timestamp, keyframe, now)

    # ------------------------------------------------------------ timers and lifecycle

    async def tick(self, now: float) -> None:
        """Stop renditions unused for ``idle_stop_s``, and the pipeline once nothing needs it."""
        for size in self._demand.idle_sizes(now, self._config.idle_stop_s):
            if self.renditions.pop(size, None) is not None:
                self._counters.renditions_stopped += 1
        if self.pipeline is not None and not self._pipeline_needed():
            await self._stop_pipeline()
        else:
            self._sync_pipeline(now)

    async def _stop_pipeline(self) -> None:
        # No packet reaches it any more (the producer feeds self.pipeline), but it counts as
        # decoding until its worker has stopped.
        pipeline, self.pipeline = self.pipeline, None
        if pipeline is not None:
            self._stopping = pipeline
            try:
                await pipeline.stop()
            finally:
                self._stopping = None

    async def close(self) -> None:
        """Stop every rendition and the pipeline; the transform is closed by the worker. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.renditions.clear()
        if self._transform is not None:
            if self.pipeline is not None:
                self.pipeline.set_transform(None)
            else:
                self._retired.append(self._transform)
            self._transform = None
        await self._stop_pipeline()
        retired, self._retired = self._retired, []
        for transform in retired:  # never handed to a worker: closed off the event loop
            await asyncio.to_thread(_close_quietly, transform)

    def dump(self) -> dict[str, object]:
        pipeline = self.pipeline.dump() if self.pipeline is not None else None
        return {
            "decoding": self.decoding,
            "transform": self._transform.name if self._transform else None,
            "renditions": [
                {"size": list(size), "consumers": len(r.consumers), "frames": r.frames}
                for size, r in self.renditions.items()
            ],
            "pipeline": pipeline,
            "demand": self._demand.dump(),
        }


def _close_quietly(transform: FrameTransform) -> None:
    try:
        transform.close()
    except Exception:
        logger.exception("closing frame transform %s failed", transform.name)
