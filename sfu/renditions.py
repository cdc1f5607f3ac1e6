"""The rendition pipeline of one video producer: decode -> transform -> scale -> encode -> fan out.

Nothing here runs unless someone needs it: a consumer with a cap below the source
size, or a frame transform (a background effect). Then the producer's frames are
decoded *once*, transformed *once*, and encoded once per distinct output size; every
consumer that wants a size shares that rendition (one encoder per size).

Threads and queues:
* the event loop assembles frames from RTP (aiortc's JitterBuffer) and puts them on
  the worker's bounded input queue; when it is full the queue is flushed and a
  keyframe requested (decoding cannot skip inter frames);
* one worker thread per producer decodes every frame, but transforms and encodes a
  frame only if no newer one is waiting: when the machine cannot keep up, renditions
  lose frame rate instead of latency, and the event loop never waits;
* encoded payloads come back through a bounded asyncio queue to one owned task that
  fans them out to consumers (dropped with a counter if that queue is full).

A rendition nobody uses for ``idle_stop_s`` is stopped, and the decoder with the last one.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import av
from aiortc.codecs import depayload, get_decoder, get_encoder
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket

from sfu.config import RenditionConfig
from sfu.packet.keyframe import keyframe_checker
from sfu.packet.renditions import target_size
from sfu.packet.rtp_reader import ReceivedRtp
from sfu.source import ForwardedPacket, next_source_id
from sfu.stats import SfuCounters
from sfu.transform import FrameTransform

if TYPE_CHECKING:
    from sfu.consumer import Consumer
    from sfu.producer import Producer

logger = logging.getLogger(__name__)

_VIDEO_TIME_BASE = Fraction(1, 90000)
_INPUT_FRAMES = 32
_OUTPUT_FRAMES = 16
Size = tuple[int, int]


class Rendition:
    """One output size of a producer, encoded once and shared: a :class:`MediaSource`."""

    def __init__(self, size: Size, owner: RenditionSet) -> None:
        self.size = size
        self.source_id = next_source_id()
        self.consumers: set[Consumer] = set()
        self.idle_since: float | None = None
        self.force_keyframe = True
        self.frames = 0
        self._owner = owner
        self._seq = 0

    def request_keyframe(self, now: float) -> None:
        # Our own encoder: no network round trip, no throttle needed beyond one per frame.
        self.force_keyframe = True

    def next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq


@dataclass
class _Job:
    frame: JitterFrame
    codec: Any


@dataclass
class _Encoded:
    size: Size
    payloads: list[bytes]
    timestamp: int


@dataclass
class _WorkerState:
    """Shared between the loop and the worker; replaced as a whole, never mutated in place."""

    sizes: dict[Size, int] = field(default_factory=dict)  # size -> bitrate
    transform: FrameTransform | None = None


class RenditionSet:
    def __init__(self, producer: Producer, config: RenditionConfig, counters: SfuCounters) -> None:
        self._producer = producer
        self._config = config
        self._counters = counters
        self.renditions: dict[Size, Rendition] = {}
        self.transform: FrameTransform | None = None
        self._probe_until: float | None = None
        self._jitter: JitterBuffer | None = None
        self._input: queue.Queue[_Job | None] | None = None
        self._output: asyncio.Queue[_Encoded] | None = None
        self._thread: threading.Thread | None = None
        self._fanout: asyncio.Task[None] | None = None
        self._state = _WorkerState()
        self._force: set[Size] = set()
        self._ts_cycles = 0
        self._last_ts: int | None = None
        self._frame_size_cb: Callable[[Size], None] | None = None
        self._closing_transforms: list[FrameTransform] = []
        self.dropped_inputs = 0
        self.dropped_outputs = 0

    # ------------------------------------------------------------ demand

    @property
    def decoding(self) -> bool:
        return self._thread is not None

    def all_consumers(self) -> list[Consumer]:
        return [c for r in self.renditions.values() for c in r.consumers]

    def source_for(self, max_w: int | None, max_h: int | None, consumer: Consumer) -> Any:
        """The source a consumer with this cap should receive (the producer = passthrough)."""
        p = self._producer
        if p.width is None or p.height is None:
            if max_w is not None or max_h is not None or self.transform is not None:
                self._probe_until = time.monotonic() + 5.0  # decode to learn the size
                self._ensure_worker()
            return p
        size = target_size(p.width, p.height, max_w, max_h)
        if size is None:
            if self.transform is None:
                return p
            size = (p.width, p.height)
        rendition = self.renditions.get(size)
        if rendition is None:
            rendition = self.renditions[size] = Rendition(size, self)
            self._counters.renditions_started += 1
            self._publish_state()
            self._ensure_worker()
        rendition.idle_since = None
        return rendition

    def set_transform(self, transform: FrameTransform | None) -> None:
        old = self.transform
        self.transform = transform
        self._publish_state()
        if transform is not None:
            self._ensure_worker()
        if old is not None and old is not transform:
            self._closing_transforms.append(old)  # closed by the worker, which last used it

    def on_source_size(self, size: Size) -> None:
        """The publisher changed resolution: existing renditions are re-chosen by consumers."""

    def _publish_state(self) -> None:
        sizes = {size: self._bitrate(size) for size in self.renditions}
        self._state = _WorkerState(sizes=sizes, transform=self.transform)

    def _bitrate(self, size: Size) -> int:
        pixels = size[0] * size[1]
        bitrate = int(self._config.bitrate_per_720p * pixels / (1280 * 720))
        return max(self._config.min_bitrate, bitrate)

    # ------------------------------------------------------------ packets in (event loop)

    def feed(self, received: ReceivedRtp, now: float) -> None:
        codec = self._producer.codec
        if codec is None or self._jitter is None or self._input is None:
            return
        # aiortc's jitter buffer and depayloader take its own packet type.
        packet = RtpPacket(
            payload_type=received.payload_type,
            marker=received.marker,
            sequence_number=received.sequence_number,
            timestamp=received.timestamp,
            ssrc=received.ssrc,
            payload=received.payload,
        )
        try:
            packet._data = depayload(codec, packet.payload) if packet.payload else b""  # type: ignore[attr-defined]
        except ValueError:
            return
        pli, frame = self._jitter.add(packet)
        if pli:
            self._producer.request_keyframe(now)
        if frame is None:
            return
        frame.timestamp = self._unwrap(frame.timestamp)
        try:
            self._input.put_nowait(_Job(frame, codec))
        except queue.Full:
            # Decoding cannot skip frames: start again from the next keyframe.
            self.dropped_inputs += 1
            self._drain_input()
            self._producer.request_keyframe(now)

    def _unwrap(self, ts: int) -> int:
        if self._last_ts is not None and ts < self._last_ts and self._last_ts - ts > (1 << 31):
            self._ts_cycles += 1 << 32
        self._last_ts = ts
        return ts + self._ts_cycles

    def _drain_input(self) -> None:
        assert self._input is not None
        try:
            while True:
                self._input.get_nowait()
        except queue.Empty:
            pass

    # ------------------------------------------------------------ worker thread

    def _ensure_worker(self) -> None:
        if self._thread is not None:
            return
        loop = asyncio.get_running_loop()
        self._jitter = JitterBuffer(capacity=128, is_video=True)
        self._input = queue.Queue(maxsize=_INPUT_FRAMES)
        self._output = asyncio.Queue(maxsize=_OUTPUT_FRAMES)
        self._thread = threading.Thread(
            target=self._work, args=(loop, self._input, self._output), name=f"rendition-{self._producer.id}", daemon=True
        )
        self._thread.start()
        self._fanout = asyncio.create_task(self._fan_out(self._output), name=f"fanout-{self._producer.id}")
        self._producer.request_keyframe(time.monotonic())

    def _work(self, loop: asyncio.AbstractEventLoop, inputs: queue.Queue[_Job | None], outputs: asyncio.Queue[_Encoded]) -> None:
        decoder = None
        encoders: dict[Size, Any] = {}
        transform_in_use: FrameTransform | None = None
        counters = self._counters
        while True:
            job = inputs.get()
            if job is None:
                break
            if decoder is None:
                decoder = get_decoder(job.codec)
            try:
                frames = decoder.decode(job.frame)
            except av.FFmpegError:
                loop.call_soon_threadsafe(self._producer.request_keyframe, time.monotonic())
                continue
            for decoded in frames:
                frame = typing.cast(av.VideoFrame, decoded)
                counters.frames_decoded += 1
                size = (frame.width, frame.height)
                if size != (self._producer.width, self._producer.height):
                    loop.call_soon_threadsafe(self._learn_size, size)
                if not inputs.empty():
                    counters.frames_dropped += 1  # behind: decode only, keep latency low
                    continue
                state = self._state
                if not state.sizes:
                    continue
                if state.transform is not transform_in_use:
                    transform_in_use = state.transform
                if transform_in_use is not None:
                    try:
                        frame = _keep_timing(transform_in_use.apply(frame), frame)
                    except Exception:  # an effect must never take the stream down
                        logger.exception("frame transform %s failed", transform_in_use.name)
                for out_size, bitrate in state.sizes.items():
                    encoder = encoders.get(out_size)
                    if encoder is None:
                        encoder = encoders[out_size] = get_encoder(job.codec)
                    encoder.target_bitrate = bitrate  # type: ignore[union-attr]
                    scaled = frame if out_size == (frame.width, frame.height) else _scale(frame, out_size)
                    force = out_size in self._force
                    if force:
                        self._force.discard(out_size)
                    payloads, timestamp = encoder.encode(scaled, force)
                    counters.frames_encoded += 1
                    if payloads:
                        loop.call_soon_threadsafe(_offer, outputs, _Encoded(out_size, payloads, timestamp), self)
            for stale in [s for s in encoders if s not in self._state.sizes]:
                del encoders[stale]
            while self._closing_transforms:
                _close_quietly(self._closing_transforms.pop())
        while self._closing_transforms:
            _close_quietly(self._closing_transforms.pop())

    def _learn_size(self, size: Size) -> None:
        p = self._producer
        if (p.width, p.height) != size:
            p.width, p.height = size
            for consumer in list(p.legs):
                consumer.reselect_source(time.monotonic())

    # ------------------------------------------------------------ fan-out (event loop)

    async def _fan_out(self, outputs: asyncio.Queue[_Encoded]) -> None:
        is_keyframe = keyframe_checker(self._producer.codec_name or "vp8")
        while True:
            encoded = await outputs.get()
            rendition = self.renditions.get(encoded.size)
            if rendition is None:
                continue
            rendition.frames += 1
            now = time.monotonic()
            ts = encoded.timestamp & 0xFFFFFFFF
            last = len(encoded.payloads) - 1
            keyframe = is_keyframe(encoded.payloads[0])
            for i, payload in enumerate(encoded.payloads):
                pkt = ForwardedPacket(payload, int(i == last), rendition.next_seq(), ts, keyframe and i == 0, i == 0, None)
                for consumer in tuple(rendition.consumers):
                    consumer.on_packet(rendition, pkt, now)

    # ------------------------------------------------------------ timers and lifecycle

    async def tick(self, now: float) -> None:
        for size, rendition in list(self.renditions.items()):
            if rendition.force_keyframe:
                rendition.force_keyframe = False
                self._force.add(size)
            if rendition.consumers:
                rendition.idle_since = None
            elif rendition.idle_since is None:
                rendition.idle_since = now
            elif now - rendition.idle_since >= self._config.idle_stop_s:
                del self.renditions[size]
                self._counters.renditions_stopped += 1
                self._publish_state()
        probing = self._probe_until is not None and now < self._probe_until
        if self._thread is not None and not self.renditions and self.transform is None and not probing:
            await self._stop_worker()

    async def _stop_worker(self) -> None:
        thread, inputs, fanout = self._thread, self._input, self._fanout
        self._thread = self._input = self._output = self._fanout = None
        self._jitter = None
        self._probe_until = None
        if inputs is not None:
            while True:
                try:
                    inputs.put_nowait(None)
                    break
                except queue.Full:
                    try:
                        inputs.get_nowait()
                    except queue.Empty:
                        pass
        if fanout is not None:
            fanout.cancel()
            try:
                await fanout
            except asyncio.CancelledError:
                pass
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, thread.join)

    async def close(self) -> None:
        self.renditions.clear()
        if self.transform is not None:
            self._closing_transforms.append(self.transform)
        self.transform = None
        self._publish_state()
        await self._stop_worker()

    def dump(self) -> dict[str, object]:
        return {
            "decoding": self.decoding,
            "transform": self.transform.name if self.transform else None,
            "renditions": [
                {"size": list(size), "consumers": len(r.consumers), "frames": r.frames} for size, r in self.renditions.items()
            ],
            "dropped_inputs": self.dropped_inputs,
            "dropped_outputs": self.dropped_outputs,
        }


def _offer(outputs: asyncio.Queue[_Encoded], item: _Encoded, owner: RenditionSet) -> None:
    try:
        outputs.put_nowait(item)
    except asyncio.QueueFull:
        owner.dropped_outputs += 1


def _scale(frame: av.VideoFrame, size: Size) -> av.VideoFrame:
    scaled = frame.reformat(width=size[0], height=size[1], format="yuv420p")
    return _keep_timing(scaled, frame)


def _keep_timing(out: av.VideoFrame, ref: av.VideoFrame) -> av.VideoFrame:
    out.pts = ref.pts
    out.time_base = ref.time_base or _VIDEO_TIME_BASE
    return out


def _close_quietly(transform: FrameTransform) -> None:
    try:
        transform.close()
    except Exception:
        logger.exception("closing frame transform %s failed", transform.name)
