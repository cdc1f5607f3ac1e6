"""Fast builder for outgoing RTP packets with RFC 8285 one-byte header extensions.

Per packet per subscriber the server writes a fresh header (its own SSRC, rewritten sequence
number and timestamp, the subscriber's MID and a fresh abs-send-time). aiortc's ``RtpPacket``
does this through a generic object and a map lookup per extension; here the header is one
precompiled ``struct.Struct.pack`` call, the MID element (constant per leg) is cached, and the
other elements are packed as single ints. The output is what
``aiortc.rtp.RtpPacket.parse(data, extensions_map)`` reads back (tested as a round trip).

Layout (RFC 3550 + RFC 8285 section 4.2): 12-byte fixed header, then when any extension is
present the 0xBEDE profile, the block length in 32-bit words, the elements ``(id << 4 | len-1)``
+ data, zero padding to a 32-bit boundary, then the payload. No CSRCs, no RTP padding.
"""

from dataclasses import dataclass
from struct import Struct
from struct import error as struct_error

_HEADER = Struct("!BBHII")
_HEADER_WITH_EXT = Struct("!BBHIIHH")
_U16 = Struct("!H")
_U32 = Struct("!I")
_ONE_BYTE_PROFILE = 0xBEDE
_PADDING = (b"", b"\x00\x00\x00", b"\x00\x00", b"\x00")  # indexed by len(elements) % 4
_MAX_ONE_BYTE_VALUE = 16

ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


class RtpHeaderError(ValueError):
    """An argument cannot be written into an RTP header."""


def _check_ext_id(name: str, value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or not 1 <= value <= 14):
        raise RtpHeaderError(f"{name} extension id must be an int in [1, 14], got {value!r}")


@dataclass(frozen=True, slots=True)
class ExtensionIds:
    """Negotiated one-byte header extension ids of a leg (None: not negotiated, not written)."""

    mid: int | None = None
    abs_send_time: int | None = None
    audio_level: int | None = None

    def __post_init__(self) -> None:
        _check_ext_id("mid", self.mid)
        _check_ext_id("abs_send_time", self.abs_send_time)
        _check_ext_id("audio_level", self.audio_level)
        ids = [i for i in (self.mid, self.abs_send_time, self.audio_level) if i is not None]
        if len(set(ids)) != len(ids):
            raise RtpHeaderError(f"extension ids must be distinct, got {self!r}")

    @classmethod
    def from_uris(cls, extensions: dict[str, int]) -> "ExtensionIds":
        """Build from a negotiated ``{uri: id}`` map (unknown URIs are ignored)."""
        return cls(
            mid=extensions.get(MID_URI),
            abs_send_time=extensions.get(ABS_SEND_TIME_URI),
            audio_level=extensions.get(AUDIO_LEVEL_URI),
        )


def abs_send_time_from_seconds(t: float) -> int:
    """abs-send-time value (6.18 fixed-point seconds, 24 bits) for a time in seconds."""
    return int(t * 262144.0) & 0xFFFFFF


class RtpHeaderWriter:
    """Writes RTP packets for one leg; keeps the per-leg constant parts precomputed."""

    __slots__ = (
        "_abs_tag",
        "_audio_tag",
        "_ext_ids",
        "_mid_abs_struct",
        "_mid_abs_words",
        "_mid_elem",
        "_mid_id",
        "_mid_value",
    )

    def __init__(self, ext_ids: ExtensionIds) -> None:
        self._ext_ids = ext_ids
        self._mid_id = ext_ids.mid
        self._mid_value: str | None = None
        self._mid_elem = b""
        # Fast path for the common video/audio case "MID + abs-send-time": the whole header and
        # extension block in one precompiled pack (rebuilt when the MID changes).
        self._mid_abs_struct: Struct | None = None
        self._mid_abs_words = 0
        # Element first byte already shifted into place: abs-send-time is 3 bytes (len-1 = 2),
        # audio level 1 byte (len-1 = 0).
        abs_id, audio_id = ext_ids.abs_send_time, ext_ids.audio_level
        self._abs_tag = None if abs_id is None else (abs_id << 4 | 2) << 24
        self._audio_tag = None if audio_id is None else (audio_id << 4) << 8

    @property
    def ext_ids(self) -> ExtensionIds:
        return self._ext_ids

    def build(
        self,
        payload_type: int,
        marker: bool | int,
        seq: int,
        ts: int,
        ssrc: int,
        payload: bytes,
        *,
        mid: str | None = None,
        abs_send_time: int | None = None,
        audio_level: tuple[bool, int] | None = None,
    ) -> bytes:
        """The complete RTP packet. Extensions whose id was not negotiated are left out."""
        if not 0 <= payload_type <= 127:
            raise RtpHeaderError(f"payload_type must be in [0, 127], got {payload_type!r}")
        m_pt = 0x80 | payload_type if marker else payload_type
        elements = b""
        if mid is not None and self._mid_id is not None:
            if mid != self._mid_value:
                self._cache_mid(self._mid_id, mid)
            mid_abs = self._mid_abs_struct
            if (
                abs_send_time is not None
                and audio_level is None
                and mid_abs is not None
                and self._abs_tag is not None
            ):
                try:
                    return (
                        mid_abs.pack(
                            0x90,
                            m_pt,
                            seq,
                            ts,
                            ssrc,
                            _ONE_BYTE_PROFILE,
                            self._mid_abs_words,
                            self._mid_elem,
                            self._abs_tag | (abs_send_time & 0xFFFFFF),
                        )
                        + payload
                    )
                except struct_error as exc:
                    raise _field_error(seq, ts, ssrc, exc) from exc
            elements = self._mid_elem
        if abs_send_time is not None and self._abs_tag is not None:
            elements += _U32.pack(self._abs_tag | (abs_send_time & 0xFFFFFF))
        if audio_level is not None and self._audio_tag is not None:
            vad, level = audio_level
            if not 0 <= level <= 127:
                raise RtpHeaderError(f"audio_level level must be in [0, 127], got {level!r}")
            elements += _U16.pack(self._audio_tag | (0x80 if vad else 0) | level)
        try:
            if not elements:
                return _HEADER.pack(0x80, m_pt, seq, ts, ssrc) + payload
            elements += _PADDING[len(elements) & 3]
            return (
                _HEADER_WITH_EXT.pack(
                    0x90, m_pt, seq, ts, ssrc, _ONE_BYTE_PROFILE, len(elements) >> 2
                )
                + elements
                + payload
            )
        except struct_error as exc:  # a field out of range
            raise _field_error(seq, ts, ssrc, exc) from exc

    def _cache_mid(self, mid_id: int, mid: str) -> None:
        value = mid.encode("utf8")
        if not 1 <= len(value) <= _MAX_ONE_BYTE_VALUE:
            raise RtpHeaderError(f"mid must encode to 1..{_MAX_ONE_BYTE_VALUE} bytes, got {mid!r}")
        self._mid_elem = bytes(((mid_id << 4) | (len(value) - 1),)) + value
        self._mid_value = mid
        block = len(self._mid_elem) + 4
        pad = -block & 3
        self._mid_abs_words = (block + pad) >> 2
        self._mid_abs_struct = Struct(f"!BBHIIHH{len(self._mid_elem)}sI{pad}x")


def _field_error(seq: int, ts: int, ssrc: int, exc: Exception) -> RtpHeaderError:
    return RtpHeaderError(
        f"seq must be in [0, 65535], ts and ssrc in [0, 2**32-1]; "
        f"got seq={seq!r} ts={ts!r} ssrc={ssrc!r} ({exc})"
    )


def wrap_rtx(original_seq: int, payload: bytes) -> bytes:
    """RTX payload (RFC 4588): the original sequence number (OSN) then the original payload."""
    if not 0 <= original_seq <= 0xFFFF:
        raise RtpHeaderError(f"original_seq must be in [0, 65535], got {original_seq!r}")
    return _U16.pack(original_seq) + payload


def rtp_payload_offset(packet: bytes) -> int:
    """Where the payload starts in an RTP packet (after CSRCs and the extension block)."""
    if len(packet) < 12 or packet[0] >> 6 != 2:
        raise RtpHeaderError(f"packet must be an RTP v2 packet of >= 12 bytes, got {packet[:12]!r}")
    pos = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:
        if len(packet) < pos + 4:
            raise RtpHeaderError("packet extension header is truncated")
        pos += 4 + 4 * ((packet[pos + 2] << 8) | packet[pos + 3])
    if pos > len(packet):
        raise RtpHeaderError("packet header is longer than the packet")
    return pos


def build_rtx_packet(original: bytes, rtx_payload_type: int, rtx_seq: int, rtx_ssrc: int) -> bytes:
    """RTX retransmission (RFC 4588) of a packet exactly as it was sent (e.g. from the
    PacketCache): same marker, timestamp and header extensions; the RTX payload type, sequence
    number and SSRC; payload = original sequence number + original payload. The original must
    carry no RTP padding (RtpHeaderWriter never writes any)."""
    if not 0 <= rtx_payload_type <= 127:
        raise RtpHeaderError(f"rtx_payload_type must be in [0, 127], got {rtx_payload_type!r}")
    offset = rtp_payload_offset(original)
    try:
        head = _HEADER.pack(
            original[0],
            (original[1] & 0x80) | rtx_payload_type,
            rtx_seq,
            (original[4] << 24) | (original[5] << 16) | (original[6] << 8) | original[7],
            rtx_ssrc,
        )
    except struct_error as exc:
        raise RtpHeaderError(
            f"rtx_seq must be in [0, 65535] and rtx_ssrc in [0, 2**32-1]; "
            f"got rtx_seq={rtx_seq!r} rtx_ssrc={rtx_ssrc!r}"
        ) from exc
    return head + original[12:offset] + original[2:4] + original[offset:]
