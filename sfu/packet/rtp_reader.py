"""Reader for received RTP packets that decodes only what the SFU uses.

Every packet a publisher sends is parsed once on the receive path. aiortc's
``RtpPacket.parse`` builds a generic packet: a CSRC list, a ``HeaderExtensions`` dataclass
with seven fields, and every header extension element decoded (MID and stream ids as
strings) through a list of ``(id, bytes)`` pairs: 2.2 µs in a tight loop, ~8 µs per packet
in the running server (benchmarks/packet_path.py; stage timing as in
benchmarks/profile_server.py --stages), against 0.9 and ~2.8 µs for this reader. Here the
fixed header is one precompiled ``struct`` unpack, the
extension block is walked in place, and only the two elements the SFU reads are decoded:
abs-send-time (for the receive-side bandwidth estimate) and the audio level (passed on to
subscribers). The result is a ``__slots__`` object with aiortc's attribute names, so code
written for ``RtpPacket`` reads it unchanged.

For well-formed packets the fields are exactly what ``RtpPacket.parse`` gives (tested on
random packets that aiortc serialises, tests/sfu/packet/test_rtp_reader.py). Malformed
packets raise :class:`RtpParseError`, never anything else: an extension element of the
wrong size for its kind is ignored (aiortc raised ``struct.error`` there, which escaped
its callers' ``ValueError`` handling).

RFC 3550 section 5.1 (header, CSRCs, padding) and RFC 8285 (one-byte 0xBEDE and two-byte
0x100X extension blocks; padding bytes of value 0 between elements).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from struct import Struct

_FIXED = Struct("!BBHII")
_EXT_HEAD = Struct("!HH")
_ONE_BYTE_PROFILE = 0xBEDE
_TWO_BYTE_PROFILE = 0x1000  # the top 12 bits; the low 4 are "appbits"


class RtpParseError(ValueError):
    """A received datagram is not a well-formed RTP packet."""


@dataclass(slots=True, eq=False)
class ReceivedRtp:
    """One received RTP packet: header fields, payload and the extensions the SFU uses."""

    payload_type: int
    marker: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes = field(repr=False)
    padding_size: int = 0
    abs_send_time: int | None = None  # 24-bit 6.18 fixed-point seconds
    audio_level: tuple[bool, int] | None = None  # (voice activity, level in -dBov), RFC 6464


def parse_rtp(data: bytes, abs_send_time_id: int | None, audio_level_id: int | None) -> ReceivedRtp:
    """Parse ``data``; the two ids are the negotiated extension ids (None: not negotiated)."""
    size = len(data)
    if size < 12:
        raise RtpParseError(f"RTP packet of {size} bytes is shorter than the 12-byte header")
    first, second, seq, ts, ssrc = _FIXED.unpack_from(data)
    if first >> 6 != 2:
        raise RtpParseError(f"RTP version is {first >> 6}, not 2")
    pos = 12 + 4 * (first & 0x0F)
    if size < pos:
        raise RtpParseError("RTP packet is shorter than its CSRC list")
    abs_send_time: int | None = None
    audio_level: tuple[bool, int] | None = None
    if first & 0x10:
        if size < pos + 4:
            raise RtpParseError("RTP header extension is truncated before its length")
        profile, words = _EXT_HEAD.unpack_from(data, pos)
        pos += 4
        end = pos + 4 * words
        if size < end:
            raise RtpParseError("RTP header extension is longer than the packet")
        if profile == _ONE_BYTE_PROFILE or profile & 0xFFF0 == _TWO_BYTE_PROFILE:
            two_byte = profile != _ONE_BYTE_PROFILE
            while pos < end:
                tag = data[pos]
                if tag == 0:  # padding between elements
                    pos += 1
                    continue
                if two_byte:
                    if pos + 2 > end:
                        raise RtpParseError("RTP two-byte header extension element is truncated")
                    length = data[pos + 1]
                    pos += 2
                else:
                    length = (tag & 0x0F) + 1
                    tag >>= 4
                    pos += 1
                if pos + length > end:
                    raise RtpParseError(f"RTP header extension element {tag} is truncated")
                if tag == abs_send_time_id:
                    if length == 3:
                        abs_send_time = data[pos] << 16 | data[pos + 1] << 8 | data[pos + 2]
                elif tag == audio_level_id and length == 1:
                    level = data[pos]
                    audio_level = (level & 0x80 == 0x80, level & 0x7F)
                pos += length
        pos = end
    if first & 0x20:
        padding = data[-1]
        if not padding or padding > size - pos:
            raise RtpParseError(f"RTP padding length {padding} is invalid")
        return ReceivedRtp(
            second & 0x7F, second >> 7, seq, ts, ssrc, data[pos:-padding], padding, abs_send_time, audio_level
        )
    return ReceivedRtp(second & 0x7F, second >> 7, seq, ts, ssrc, data[pos:], 0, abs_send_time, audio_level)
