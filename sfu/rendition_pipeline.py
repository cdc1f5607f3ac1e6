"""The rendition pipeline of one video producer: decode -> transform -> scale -> encode.

It encodes the sizes it is told (:meth:`RenditionPipeline.set_sizes`) with the transform it
is told (:meth:`RenditionPipeline.set_transform`), and reports by callback: the size of the
decoded pictures (``on_size``), each encoded picture (``on_encoded``) and the need for a
keyframe from the publisher (``request_keyframe``). It knows nothing of producers,
consumers or who wants which size: the producer's
:class:`~sfu.source_selector.SourceSelector` decides that and starts and stops it.

The producer's frames are decoded *once*, transformed *once*, and encoded once per output
size; every consumer of a size shares that encoder.

Threads and queues:
* the event loop assembles frames from RTP (``FrameAssembler``) and puts them on the
  worker's bounded input queue; when it is full the queue is flushed and a keyframe
  requested (decoding cannot skip inter frames);
* one worker thread decodes every frame, but transforms and encodes a frame only if no
  newer one is waiting: when the machine cannot keep up, renditions lose frame rate
  instead of latency, and the event loop never waits;
* encoded payloads come back through a bounded asyncio queue to one owned task that hands
  them to ``on_encoded`` (dropped with a counter if that queue is full).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import av
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from sfu.aiortc_hooks import EncodedFrame, FrameAssembler, VideoDecoder, VideoEncoder
from sfu.config import RenditionConfig
from sfu.packet.keyframe import keyframe_checker
from sfu.packet.renditions import Size
from sfu.packet.rtp_reader import ReceivedRtp
from sfu.stats import SfuCounters
from sfu.transform import FrameTransform

logger = logging.getLogger(__name__)

_VIDEO_TIME_BASE = Fraction(1, 90000)
_INPUT_FRAMES = 32
_OUTPUT_FRAMES = 16

#: The decoded pictures' size changed; ``now`` is the arrival of the packet that completed the frame.
SizeCallback = Callable[[Size, float], None]
#: One encoded picture of a size: its RTP payloads, RTP timestamp, whether it is a keyframe, ``now``.
EncodedCallback = Callable[[Size, list[bytes], int, bool, float], None]
KeyframeCallback = Callable[[float], None]


@dataclass
class _Job:
    frame: EncodedFrame
    arrival: float


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


class RenditionPipeline:
    """Decode once, transform once, encode once per size; started by :meth:`start`, stopped by :meth:`stop`."""

    def __init__(
        self,
        *,
        name: str,
        codec: RTCRtpCodecParameters,
        config: RenditionConfig,
        counters: SfuCounters,
        on_size: SizeCallback,
        on_encoded: EncodedCallback,
        request_keyframe: KeyframeCallback,
    ) -> None:
        self._name = name
        self._codec = codec
        self._config = config
        self._counters = counters
        self._on_size = on_size
        self._on_encoded = on_encoded
        self._request_keyframe = request_keyframe
        self._is_keyframe = keyframe_checker(codec.name.lower())
        self._assembler = FrameAssembler(codec)
        self._state = _WorkerState()
        self._force: set[Size] = set()
        self._retired: list[FrameTransform] = []
        self._ts_cycles = 0
        self._last_ts: int | None = None
        self._input: queue.Queue[_Job | None] = queue.Queue(maxsize=_INPUT_FRAMES)
        self._output: asyncio.Queue[_Encoded] = asyncio.Queue(maxsize=_OUTPUT_FRAMES)
        self._thread: threading.Thread | None = None
        self._fanout: asyncio.Task[None] | None = None
        self._stopped = False
        self.dropped_inputs = 0
        self.dropped_outputs = 0

    # ------------------------------------------------------------ control (event loop)

    def start(self, now: float) -> None:
        """Start the worker thread and the fan-out task; the decoder needs a keyframe first."""
        if self._thread is not None or self._stopped:
            return
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._work, args=(loop,), name=f"rendition-{self._name}", daemon=True)
        self._thread.start()
        self._fanout = asyncio.create_task(self._fan_out(), name=f"fanout-{self._name}")
        self._request_keyframe(now)

    def set_sizes(self, sizes: set[Size]) -> None:
        """Encode exactly these sizes from the next picture on."""
        self._state = _WorkerState({size: self._bitrate(size) for size in sorted(sizes)}, self._state.transform)

    def set_transform(self, transform: FrameTransform | None) -> None:
        """Apply ``transform`` from the next picture on; the one it replaces is closed by the worker."""
        old = self._state.transform
        self._state = _WorkerState(self._state.sizes, transform)
        if old is not None and old is not transform:
            self.retire(old)

    def retire(self, transform: FrameTransform) -> None:
        """Close ``transform`` from the worker, after the last picture that may still use it."""
        self._retired.append(transform)

    def force_keyframe(self, size: Size) -> None:
        """The next picture encoded at ``size`` is a keyframe (a consumer asked for one)."""
        self._force.add(size)

    @property
    def sizes(self) -> set[Size]:
        return set(self._state.sizes)

    @property
    def transform(self) -> FrameTransform | None:
        return self._state.transform

    def _bitrate(self, size: Size) -> int:
        pixels = size[0] * size[1]
        bitrate = int(self._config.bitrate_per_720p * pixels / (1280 * 720))
        return max(self._config.min_bitrate, bitrate)

    # ------------------------------------------------------------ packets in (event loop)

    def feed(self, received: ReceivedRtp, now: float) -> None:
        if self._thread is None:
            return
        try:
            pli, frame = self._assembler.add(received)
        except ValueError:  # a payload the depayloader cannot read
            return
        if pli:
            self._request_keyframe(now)
        if frame is None:
            return
        frame.timestamp = self._unwrap(frame.timestamp)
        try:
            self._input.put_nowait(_Job(frame, now))
        except queue.Full:
            # Decoding cannot skip frames: start again from the next keyframe.
            self.dropped_inputs += 1
            self._drain_input()
            self._request_keyframe(now)

    def _unwrap(self, ts: int) -> int:
        if self._last_ts is not None and ts < self._last_ts and self._last_ts - ts > (1 << 31):
            self._ts_cycles += 1 << 32
        self._last_ts = ts
        return ts + self._ts_cycles

    def _drain_input(self) -> None:
        try:
            while True:
                self._input.get_nowait()
        except queue.Empty:
            pass

    # ------------------------------------------------------------ worker thread

    def _work(self, loop: asyncio.AbstractEventLoop) -> None:
        decoder = VideoDecoder(self._codec)
        encoders: dict[Size, VideoEncoder] = {}
        inputs, counters = self._input, self._counters
        reported: Size | None = None
        while True:
            job = inputs.get()
            if job is None:
                break
            try:
                pictures = decoder.decode(job.frame)
            except av.FFmpegError:
                loop.call_soon_threadsafe(self._request_keyframe, job.arrival)
                continue
            for picture in pictures:
                counters.frames_decoded += 1
                size = (picture.width, picture.height)
                if size != reported:
                    reported = size
                    loop.call_soon_threadsafe(self._on_size, size, job.arrival)
                if not inputs.empty():
                    counters.frames_dropped += 1  # behind: decode only, keep latency low
                    continue
                state = self._state
                if not state.sizes:
                    continue
                frame = picture
                if state.transform is not None:
                    try:
                        frame = _keep_timing(state.transform.apply(picture), picture)
                    except Exception:  # an effect must never take the stream down
                        logger.exception("frame transform %s failed", state.transform.name)
                for out_size, bitrate in state.sizes.items():
                    encoder = encoders.get(out_size)
                    if encoder is None:
                        encoder = encoders[out_size] = VideoEncoder(self._codec)
                    scaled = frame if out_size == (frame.width, frame.height) else _scale(frame, out_size)
                    force = out_size in self._force
                    if force:
                        self._force.discard(out_size)
                    payloads, timestamp = encoder.encode(scaled, bitrate, force)
                    counters.frames_encoded += 1
                    if payloads:
                        loop.call_soon_threadsafe(self._offer, _Encoded(out_size, payloads, timestamp))
            for stale in [s for s in encoders if s not in self._state.sizes]:
                del encoders[stale]
            self._close_retired()
        self._close_retired()

    def _close_retired(self) -> None:
        while self._retired:
            _close_quietly(self._retired.pop())

    def _offer(self, item: _Encoded) -> None:
        try:
            self._output.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped_outputs += 1

    # ------------------------------------------------------------ fan-out (event loop)

    async def _fan_out(self) -> None:
        while True:
            encoded = await self._output.get()
            keyframe = self._is_keyframe(encoded.payloads[0])
            # a new event (a picture from the worker): its time is read here, once
            now = time.monotonic()
            self._on_encoded(encoded.size, encoded.payloads, encoded.timestamp & 0xFFFFFFFF, keyframe, now)

    # ------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._thread is not None

    async def stop(self) -> None:
        """Stop the fan-out task and the worker (which closes the transforms it retired); idempotent.

        Frames waiting to be decoded are dropped.

        The current transform is not closed: its owner keeps it (and retires it with
        ``set_transform(None)`` before stopping when it is done with it).
        """
        self._stopped = True
        thread, fanout = self._thread, self._fanout
        self._thread = self._fanout = None
        self._drain_input()  # nobody needs what is still waiting: the worker stops after its current picture
        self._input.put_nowait(None)  # the queue was just emptied, and only the loop fills it
        if fanout is not None:
            fanout.cancel()
            try:
                await fanout
            except asyncio.CancelledError:
                pass
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, thread.join)
        else:
            self._close_retired()

    def dump(self) -> dict[str, object]:
        return {
            "sizes": [list(size) for size in self._state.sizes],
            "transform": self._state.transform.name if self._state.transform else None,
            "dropped_inputs": self.dropped_inputs,
            "dropped_outputs": self.dropped_outputs,
        }


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
