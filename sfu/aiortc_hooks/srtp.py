"""SRTP protect and unprotect on a pylibsrtp session, without its per-call Python layers.

Every forwarded packet is unprotected once and protected once per subscriber.
``pylibsrtp.Session.protect`` goes through two Python frames, allocates an ``int *`` with
cffi and calls a third function to check the result: a protect + unprotect of a 1.1 kB
packet takes 4.0 µs through pylibsrtp and 3.1 µs here in a tight loop
(benchmarks/packet_path.py), and more on the server's packet path, where each packet meets
cold caches. Here each session gets one :class:`SrtpContext` holding the libsrtp context,
the session's own buffer and a preallocated length, and each call is one frame around the
C call. SRTCP (a few packets per second per leg) is not on the packet path and stays with
pylibsrtp's own methods.

The only module touching pylibsrtp's private attributes (``_srtp``, ``_cdata``,
``_buffer``); tests/sfu/aiortc_hooks/test_srtp.py checks they still exist and that packets
cross between the two implementations in both directions. Errors are
``pylibsrtp.Error`` with libsrtp's messages, as before; a packet too long for the buffer
raises ``ValueError``.
"""

from __future__ import annotations

from typing import Any

import pylibsrtp
from pylibsrtp._binding import ffi, lib

from sfu.aiortc_hooks._private import HookError

_OK = lib.srtp_err_status_ok
_RTP_TRAILER = 16 + 128  # SRTP_MAX_TAG_LEN + SRTP_MAX_MKI_LEN, as pylibsrtp reserves


class SrtpContext:
    """RTP protect/unprotect through one pylibsrtp ``Session`` (same keys, same replay state)."""

    __slots__ = ("_buffer", "_cdata", "_ctx", "_length", "_owner", "_size")

    def __init__(self, session: pylibsrtp.Session) -> None:
        try:
            owner: Any = session._srtp
            self._cdata: Any = session._cdata
            self._buffer: Any = session._buffer
        except AttributeError:
            raise HookError("pylibsrtp's Session internals changed; check sfu/aiortc_hooks/srtp.py") from None
        # The pointer that frees the libsrtp context when collected: held, not the session,
        # so that the session (which keeps this context) and the context form no cycle.
        self._owner = owner
        self._ctx: Any = owner[0]
        self._size = len(self._cdata)
        self._length: Any = ffi.new("int *")

    # protect and unprotect are written out (no shared helper): one Python frame per packet.

    def protect(self, packet: bytes) -> bytes:
        size = len(packet)
        if size > self._size - _RTP_TRAILER:
            raise ValueError(f"RTP packet of {size} bytes is too long for SRTP")
        length = self._length
        length[0] = size
        buffer = self._buffer
        buffer[0:size] = packet
        status = lib.srtp_protect(self._ctx, self._cdata, length)
        if status != _OK:
            raise pylibsrtp.Error(pylibsrtp.ERRORS[status])
        result: bytes = buffer[0 : length[0]]
        return result

    def unprotect(self, packet: bytes) -> bytes:
        size = len(packet)
        if size > self._size:
            raise ValueError(f"SRTP packet of {size} bytes is too long")
        length = self._length
        length[0] = size
        buffer = self._buffer
        buffer[0:size] = packet
        status = lib.srtp_unprotect(self._ctx, self._cdata, length)
        if status != _OK:
            raise pylibsrtp.Error(pylibsrtp.ERRORS[status])
        result: bytes = buffer[0 : length[0]]
        return result


def srtp_context(session: pylibsrtp.Session) -> SrtpContext:
    """The session's context, made on first use and kept on the session."""
    context: SrtpContext | None = session.__dict__.get("_sfu_context")
    if context is None:
        context = SrtpContext(session)
        session._sfu_context = context  # type: ignore[attr-defined]
    return context
