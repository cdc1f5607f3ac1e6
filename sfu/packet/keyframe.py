"""Keyframe and frame-start detection from RTP payloads, without decoding.

Used to start a subscriber leg on a decodable picture (the keyframe gate) and to know when a
requested keyframe has arrived. Parsers read only the payload descriptor / NAL header bytes
and never raise on truncated or malformed payloads: network input that cannot be parsed is
simply "not a keyframe, not a frame start".

* VP8 (RFC 7741): descriptor X|R|N|S|R|PID, optional I/L/T/K extension bytes with a 7- or 15-bit
  PictureID; keyframe when S=1, PID=0 and the P bit (bit 0 of the first VP8 payload header byte)
  is 0.
* H.264 (RFC 6184): IDR (5) or SPS (7) as a single NAL unit, inside a STAP-A (24), or as the
  first fragment of an FU-A (28). A frame start is a single NAL / STAP-A, or an FU-A start;
  for a coded slice, only the picture's first slice (first_mb_in_slice == 0) starts a frame,
  so a leg never starts on the second slice of a multi-slice picture.
* VP9 (RFC 9628): I|P|L|F|B|E|V|Z; keyframe (best effort) when B=1, P=0 and, when layer indices
  are present, spatial layer 0.
* Audio: every packet is independently decodable: always a keyframe and a frame start.

``codec`` is the lowercase MIME subtype, as in aiortc's ``codec.mimeType.split("/")[1].lower()``.
"""

from collections.abc import Callable


class UnsupportedCodecError(ValueError):
    """The codec name is not one this module knows how to inspect."""


_H264_KEY_NAL_TYPES = frozenset((5, 7))


def _vp8_payload_header_index(payload: bytes) -> int:
    """Index of the VP8 payload header after the descriptor, or -1 when truncated."""
    size = len(payload)
    if size < 1:
        return -1
    pos = 1
    if payload[0] & 0x80:  # X: extension byte present
        if size < 2:
            return -1
        ext = payload[1]
        pos = 2
        if ext & 0x80:  # I: PictureID present
            if size <= pos:
                return -1
            pos += 2 if payload[pos] & 0x80 else 1  # M: 15-bit PictureID
        if ext & 0x40:  # L: TL0PICIDX present
            pos += 1
        if ext & 0x30:  # T or K: TID/Y/KEYIDX byte present
            pos += 1
    return pos if pos < size else -1


def _vp8_is_keyframe(payload: bytes) -> bool:
    if not payload or (payload[0] & 0x1F) != 0x10:  # S=1 and PID=0
        return False
    pos = _vp8_payload_header_index(payload)
    return pos >= 0 and not payload[pos] & 0x01


def _vp8_is_frame_start(payload: bytes) -> bool:
    return bool(payload) and (payload[0] & 0x1F) == 0x10


def _h264_is_keyframe(payload: bytes) -> bool:
    if not payload:
        return False
    nal_type = payload[0] & 0x1F
    if nal_type in _H264_KEY_NAL_TYPES:
        return True
    if nal_type == 24:  # STAP-A: [hdr] ([size:16][nal])*
        pos = 1
        size = len(payload)
        while pos + 2 < size:
            nal_size = (payload[pos] << 8) | payload[pos + 1]
            pos += 2
            if nal_size == 0 or pos + nal_size > size:
                return False
            if payload[pos] & 0x1F in _H264_KEY_NAL_TYPES:
                return True
            pos += nal_size
        return False
    if nal_type == 28:  # FU-A: [indicator][S|E|R|type]
        return (
            len(payload) >= 2
            and bool(payload[1] & 0x80)
            and payload[1] & 0x1F in _H264_KEY_NAL_TYPES
        )
    return False


def _h264_is_frame_start(payload: bytes) -> bool:
    # A coded slice (1, 5) starts a picture only when first_mb_in_slice == 0, i.e. its ue(v)
    # code is the single bit "1": the top bit of the first slice-header byte. Other NAL units
    # (SEI, SPS, PPS, AUD) and STAP-A only ever precede a picture's first slice.
    size = len(payload)
    if not size:
        return False
    nal_type = payload[0] & 0x1F
    if nal_type == 1 or nal_type == 5:
        return size >= 2 and bool(payload[1] & 0x80)
    if 1 <= nal_type <= 24:
        return True
    if nal_type == 28:  # FU-A: start fragment, and for a slice its first_mb_in_slice == 0
        if size < 2 or not payload[1] & 0x80:
            return False
        fu_type = payload[1] & 0x1F
        if fu_type == 1 or fu_type == 5:
            return size >= 3 and bool(payload[2] & 0x80)
        return True
    return False


def _vp9_is_keyframe(payload: bytes) -> bool:
    if not payload:
        return False
    first = payload[0]
    if first & 0x40 or not first & 0x08:  # P=1 (inter-predicted) or B=0 (not a frame start)
        return False
    if first & 0x10:  # L: layer indices present
        pos = 1
        if first & 0x80:  # I: PictureID present
            if len(payload) < 2:
                return False
            pos += 2 if payload[1] & 0x80 else 1
        if len(payload) <= pos:
            return False
        return (payload[pos] >> 1) & 0x07 == 0  # spatial layer 0
    return True


def _vp9_is_frame_start(payload: bytes) -> bool:
    return bool(payload) and bool(payload[0] & 0x08)


def _always(payload: bytes) -> bool:
    return True


_KEYFRAME: dict[str, Callable[[bytes], bool]] = {
    "vp8": _vp8_is_keyframe,
    "h264": _h264_is_keyframe,
    "vp9": _vp9_is_keyframe,
}
_FRAME_START: dict[str, Callable[[bytes], bool]] = {
    "vp8": _vp8_is_frame_start,
    "h264": _h264_is_frame_start,
    "vp9": _vp9_is_frame_start,
}
AUDIO_CODECS = frozenset(("opus", "pcmu", "pcma", "g722", "telephone-event"))
for _audio in AUDIO_CODECS:
    _KEYFRAME[_audio] = _always
    _FRAME_START[_audio] = _always


def is_keyframe(codec: str, payload: bytes) -> bool:
    """True when this RTP payload is (the start of) a keyframe of ``codec``."""
    check = _KEYFRAME.get(codec)
    if check is None:
        raise UnsupportedCodecError(
            f"codec must be one of {sorted(_KEYFRAME)} (lowercase MIME subtype), got {codec!r}"
        )
    return check(payload)


def is_frame_start(codec: str, payload: bytes) -> bool:
    """True when this RTP payload starts a new frame (a safe point to start a leg)."""
    check = _FRAME_START.get(codec)
    if check is None:
        raise UnsupportedCodecError(
            f"codec must be one of {sorted(_FRAME_START)} (lowercase MIME subtype), got {codec!r}"
        )
    return check(payload)


def keyframe_checker(codec: str) -> Callable[[bytes], bool]:
    """The keyframe test for ``codec`` as a plain function (skips the per-call dict lookup)."""
    is_keyframe(codec, b"")  # validates the name
    return _KEYFRAME[codec]


def frame_start_checker(codec: str) -> Callable[[bytes], bool]:
    """The frame-start test for ``codec`` as a plain function (skips the per-call lookup)."""
    is_frame_start(codec, b"")
    return _FRAME_START[codec]
