"""Opus RTP payloads -> 16 kHz mono signed 16-bit PCM, for one stream.

Runs in a recognition worker process (never on the event loop). Lost packets and short
gaps (a few packets missing) are filled with silence so the VAD's clock stays the media
clock; a long gap (Opus DTX, a muted microphone, a network stall) is reported instead,
so the caller can end the current utterance at once rather than waiting for audio that
will not come.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import av.error

OPUS_CLOCK = 48000
OUTPUT_RATE = 16000
#: Gaps up to this long are filled with silence; longer ones are reported as a break.
MAX_FILLED_GAP_S = 0.2


@dataclass(frozen=True)
class DecodedAudio:
    pcm: bytes  # 16 kHz mono s16le
    #: Seconds of audio missing before this packet that were not filled (0 if none).
    break_s: float = 0.0


class OpusStreamDecoder:
    """Decodes one producer's Opus payloads in RTP order; counts what it could not use."""

    def __init__(self) -> None:
        self._codec = av.CodecContext.create("opus", "r")
        self._codec.sample_rate = OPUS_CLOCK
        self._codec.layout = "stereo"
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=OUTPUT_RATE)
        self._next_timestamp: int | None = None
        self.packets = 0
        self.corrupt_packets = 0
        self.filled_seconds = 0.0

    def decode(self, payload: bytes, rtp_timestamp: int) -> DecodedAudio:
        self.packets += 1
        fill = b""
        break_s = 0.0
        if self._next_timestamp is not None:
            gap = (rtp_timestamp - self._next_timestamp) & 0xFFFFFFFF
            if gap >= 0x80000000:  # late or repeated packet: decode it anyway, no gap
                gap = 0
            gap_s = gap / OPUS_CLOCK
            if 0 < gap_s <= MAX_FILLED_GAP_S:
                fill = bytes(2 * int(gap_s * OUTPUT_RATE))
                self.filled_seconds += gap_s
            elif gap_s > MAX_FILLED_GAP_S:
                break_s = gap_s
        pcm = bytearray(fill)
        samples_48k = 0
        try:
            for frame in self._codec.decode(av.Packet(payload)):
                samples_48k += frame.samples
                for out in self._resampler.resample(frame):
                    pcm += bytes(out.planes[0])[: out.samples * 2]
        except av.error.FFmpegError:
            self.corrupt_packets += 1
        self._next_timestamp = (rtp_timestamp + (samples_48k or 960)) & 0xFFFFFFFF
        return DecodedAudio(bytes(pcm), break_s)
