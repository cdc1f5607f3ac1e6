"""Facts read from codec payloads that the packet path needs (no decoding)."""

from __future__ import annotations


def vp8_descriptor_length(payload: bytes) -> int | None:
    """Length of the RFC 7741 VP8 payload descriptor, or None if the payload is too short."""
    n = len(payload)
    if n < 1:
        return None
    size = 1
    if payload[0] & 0x80:  # X: extension byte present
        if n < 2:
            return None
        ext = payload[1]
        size = 2
        if ext & 0x80:  # I: picture id
            if n <= size:
                return None
            size += 2 if payload[size] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            size += 1
        if ext & 0x30:  # T or K: TID/KEYIDX byte
            size += 1
    return size if size <= n else None


def vp8_keyframe_size(payload: bytes) -> tuple[int, int] | None:
    """Width and height from the first packet of a VP8 keyframe, else None."""
    offset = vp8_descriptor_length(payload)
    if offset is None or len(payload) < offset + 10:
        return None
    if payload[offset] & 0x01:  # P bit set: interframe
        return None
    if payload[offset + 3 : offset + 6] != b"\x9d\x01\x2a":
        return None
    width = (payload[offset + 6] | (payload[offset + 7] << 8)) & 0x3FFF
    height = (payload[offset + 8] | (payload[offset + 9] << 8)) & 0x3FFF
    if width == 0 or height == 0:
        return None
    return width, height
