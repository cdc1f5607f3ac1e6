"""Every use of aiortc's and aioice's private API in the load tester lives here, and only here.

The load tester may not import the server's packages (setup.cfg), so its seams have their
own module, with guard tests in tests/loadtest/test_aiortc_seams.py that fail loudly, naming
the attribute, when an upgrade moves one (aiortc and aioice are pinned exactly). Private
state that is missing raises :class:`SeamError`: nothing falls back silently.

* :func:`tap_rtp` — a receiver's RTP packets to a probe, replacing the instance's
  ``_handle_rtp_packet`` (aiortc's DTLS transport calls it for every routed packet);
* :func:`media_payload_types`, :func:`rtp_timestamp_origin` — a receiver's negotiated
  codecs and the origin of its timestamp mapper (to match decoded frames to RTP);
* :func:`on_keyframe_request` — a publisher's PLI/FIR to a callback, replacing the
  sender's ``_send_keyframe``;
* :func:`gather_on` — aioice's host addresses for the peers of one run (restored on exit).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import aioice.ice
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.codecs import is_rtx
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

_RECEIVER = "_RTCRtpReceiver__"

#: What a tap gets: one media or RTX packet as aiortc parsed it.
RtpTap = Callable[[RtpPacket], None]


class SeamError(RuntimeError):
    """aiortc or aioice no longer looks the way the load tester's seams expect (an upgrade)."""


def _private(obj: object, name: str) -> Any:
    try:
        return getattr(obj, name)
    except AttributeError:
        raise SeamError(f"private attribute {name} of {type(obj).__name__} is gone; check loadtest/aiortc_seams.py") from None


def tap_rtp(receiver: RTCRtpReceiver, tap: RtpTap, *, pass_on: bool) -> None:
    """Hand every RTP packet routed to ``receiver`` to ``tap``.

    Without ``pass_on`` aiortc's own handling is skipped entirely (no jitter buffer, no
    NACK, no decoding: what makes a measuring subscriber light); with it, it runs after
    the tap (decoded pictures come out of ``receiver.track`` as usual).
    """
    original: Callable[[RtpPacket, int], Awaitable[None]] = _private(receiver, "_handle_rtp_packet")

    async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
        tap(packet)
        if pass_on:
            await original(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle  # type: ignore[method-assign]


def media_payload_types(receiver: RTCRtpReceiver) -> set[int]:
    """Payload types of the receiver's negotiated media codecs (RTX left out)."""
    codecs: dict[int, RTCRtpCodecParameters] = _private(receiver, _RECEIVER + "codecs")
    return {pt for pt, codec in codecs.items() if not is_rtx(codec)}


def rtp_timestamp_origin(receiver: RTCRtpReceiver) -> int | None:
    """The RTP timestamp aiortc subtracts from a frame's to give its ``pts`` (None before the first frame)."""
    mapper = _private(receiver, _RECEIVER + "timestamp_mapper")
    origin: int | None = _private(mapper, "_origin")
    return origin


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` instead of forcing a keyframe when the remote end sends PLI or FIR."""
    _private(sender, "_send_keyframe")
    sender._send_keyframe = callback  # type: ignore[method-assign]


@contextlib.contextmanager
def gather_on(addresses: Sequence[str]) -> Iterator[None]:
    """Make aioice gather host candidates on exactly ``addresses`` (restored on exit).

    aioice leaves 127.0.0.1 out of its host candidates; the load tester's peers need it.
    """
    original = _private(aioice.ice, "get_host_addresses")
    fixed = list(addresses)

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return list(fixed)

    aioice.ice.get_host_addresses = host_addresses
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = original
