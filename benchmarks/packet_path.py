"""Micro-benchmark of the per-packet work of the media plane, in a tight loop (warm caches).

Per forwarded packet per subscriber: LegRewriter.rewrite and RtpHeaderWriter.build, alone
and together with the rest of the leg's hot path (keyframe gate, packet cache store, sender
stats). Per received packet, ours next to what it replaced: the REMB bandwidth estimator
(aiortc's as the server hooked it, RateWindow inside, and ReceiveBandwidthEstimator, on a
30 fps stream of ~4 packets per frame, ~100 packets/s, the first 3 s included), parsing a
browser-like video packet (aiortc's RtpPacket.parse and parse_rtp), and SRTP protect +
unprotect of a 1.1 kB packet (pylibsrtp's Session and SrtpContext). In the running server
each packet meets cold caches and costs 2-4x these figures
(benchmarks/profile_server.py --stages). Bounded: a fixed number of packets, a few repeats,
a few seconds in total. Prints nanoseconds per packet (best of the repeats).

    .venv/bin/python benchmarks/packet_path.py [--packets N] [--repeat R]
"""

import argparse
import random
import timeit
from collections.abc import Callable

from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from pylibsrtp import Policy, Session

from sfu.aiortc_hooks.srtp import srtp_context
from sfu.packet import (
    ExtensionIds,
    KeyframeGate,
    LegRewriter,
    LegSenderStats,
    PacketCache,
    RtpHeaderWriter,
    abs_send_time_from_seconds,
    keyframe_checker,
)
from sfu.packet.rate_window import RateWindow
from sfu.packet.receive_bandwidth import ReceiveBandwidthEstimator
from sfu.packet.rtp_header import ABS_SEND_TIME_URI
from sfu.packet.rtp_reader import parse_rtp

PAYLOAD = bytes([0x90, 0x80, 0x81, 0x23]) + bytes(1096)  # VP8 descriptor + 1.1 kB
SOURCE = 1
_TRANSPORT_CC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
_SRTP_REST = bytes(4) + bytes.fromhex("00001234") + PAYLOAD  # timestamp, SSRC, payload


def _rewrite_only(packets: int) -> Callable[[], None]:
    def run() -> None:
        rewriter = LegRewriter(90000, 1000, 0)
        rewriter.switch(SOURCE, 0.0)
        rewrite = rewriter.rewrite
        for i in range(packets):
            rewrite(SOURCE, (60000 + i) & 0xFFFF, (i // 4) * 3000, i * 0.001)

    return run


def _build_only(packets: int) -> Callable[[], None]:
    def run() -> None:
        writer = RtpHeaderWriter(ExtensionIds(mid=4, abs_send_time=2))
        build = writer.build
        for i in range(packets):
            build(96, i & 3 == 3, i & 0xFFFF, i * 750, 0x1234, PAYLOAD, mid="1", abs_send_time=i)

    return run


def _rewrite_and_build(packets: int) -> Callable[[], None]:
    def run() -> None:
        rewriter = LegRewriter(90000, 1000, 0)
        rewriter.switch(SOURCE, 0.0)
        writer = RtpHeaderWriter(ExtensionIds(mid=4, abs_send_time=2))
        rewrite, build = rewriter.rewrite, writer.build
        for i in range(packets):
            now = i * 0.001
            mapped = rewrite(SOURCE, (60000 + i) & 0xFFFF, (i // 4) * 3000, now)
            if mapped is not None:
                build(96, False, mapped[0], mapped[1], 0x1234, PAYLOAD, mid="1", abs_send_time=i)

    return run


def _full_leg(packets: int) -> Callable[[], None]:
    def run() -> None:
        rewriter = LegRewriter(90000, 1000, 0)
        rewriter.switch(SOURCE, 0.0)
        writer = RtpHeaderWriter(ExtensionIds(mid=4, abs_send_time=2))
        gate = KeyframeGate(waiting=False)
        cache = PacketCache()
        stats = LegSenderStats()
        is_key = keyframe_checker("vp8")
        rewrite, build, admit, store = rewriter.rewrite, writer.build, gate.admit, cache.store
        for i in range(packets):
            now = i * 0.001
            if not admit(is_key(PAYLOAD), True):
                continue
            mapped = rewrite(SOURCE, (60000 + i) & 0xFFFF, (i // 4) * 3000, now)
            if mapped is None:
                continue
            data = build(
                96,
                False,
                mapped[0],
                mapped[1],
                0x1234,
                PAYLOAD,
                mid="1",
                abs_send_time=abs_send_time_from_seconds(now),
            )
            store(mapped[0], data, now)
            stats.on_sent(len(PAYLOAD))

    return run


def _received_video(packets: int) -> list[tuple[int, int, int, int]]:
    """(arrival ms, abs-send-time, payload bytes, ssrc) of a received 30 fps stream.

    About 4 packets per frame sharing one abs-send-time, ~100 packets/s, ~1 Mbit/s, the
    arrivals 20 ms after sending with 0-2 ms of jitter.
    """
    rng = random.Random(1)
    stream: list[tuple[int, int, int, int]] = []
    frame = 0
    while len(stream) < packets:
        send_s = 1000.0 + frame / 30
        abs_send_time = int(send_s * (1 << 18)) & 0xFFFFFF
        for _ in range(rng.choice((3, 4, 4, 5))):
            arrival_ms = max(stream[-1][0] if stream else 0, int((send_s + 0.02) * 1000) + rng.randint(0, 2))
            stream.append((arrival_ms, abs_send_time, rng.randint(900, 1200), 0x1234))
        frame += 1
    return stream[:packets]


def _remb_aiortc(packets: int) -> Callable[[], None]:
    stream = _received_video(packets)

    def run() -> None:
        estimator = RemoteBitrateEstimator()
        estimator.incoming_bitrate = RateWindow(1000, 8000)  # type: ignore[assignment]  # as the server runs it
        add = estimator.add
        for arrival_ms, abs_send_time, size, ssrc in stream:
            add(arrival_time_ms=arrival_ms, abs_send_time=abs_send_time, payload_size=size, ssrc=ssrc)

    return run


def _remb_ours(packets: int) -> Callable[[], None]:
    stream = _received_video(packets)

    def run() -> None:
        add = ReceiveBandwidthEstimator().add
        for arrival_ms, abs_send_time, size, ssrc in stream:
            add(arrival_time_ms=arrival_ms, abs_send_time=abs_send_time, payload_size=size, ssrc=ssrc)

    return run


def _received_packets(packets: int) -> list[bytes]:
    """Serialised video packets as a browser sends them: abs-send-time and transport-cc
    one-byte extensions, a 1.1 kB VP8 payload."""
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=2, uri=ABS_SEND_TIME_URI),
                RTCRtpHeaderExtensionParameters(id=3, uri=_TRANSPORT_CC_URI),
            ]
        )
    )
    out = []
    for i in range(min(packets, 1000)):
        packet = RtpPacket(payload_type=96, sequence_number=i, timestamp=(i // 4) * 3000, ssrc=0x1234, payload=PAYLOAD)
        packet.extensions.abs_send_time = i * 100
        packet.extensions.transport_sequence_number = i
        out.append(packet.serialize(extensions))
    return (out * (packets // len(out) + 1))[:packets]


def _parse_aiortc(packets: int) -> Callable[[], None]:
    data = _received_packets(packets)
    extensions = HeaderExtensionsMap()
    extensions.configure(RTCRtpParameters(headerExtensions=[RTCRtpHeaderExtensionParameters(id=2, uri=ABS_SEND_TIME_URI)]))

    def run() -> None:
        parse = RtpPacket.parse
        for packet in data:
            parse(packet, extensions)

    return run


def _parse_ours(packets: int) -> Callable[[], None]:
    data = _received_packets(packets)

    def run() -> None:
        for packet in data:
            parse_rtp(packet, 2, None)

    return run


def _srtp_sessions() -> tuple[Session, Session]:
    key = bytes(range(30))
    profile = Policy.SRTP_PROFILE_AES128_CM_SHA1_80
    return (
        Session(policy=Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile)),
        Session(policy=Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile)),
    )


def _srtp_round_trip(ours: bool) -> Callable[[int], Callable[[], None]]:
    def factory(packets: int) -> Callable[[], None]:
        # Fresh sequence numbers on every run: libsrtp refuses replays.
        counter = iter(range(1 << 30))

        def run() -> None:
            sender, receiver = _srtp_sessions()
            protect = srtp_context(sender).protect if ours else sender.protect
            unprotect = srtp_context(receiver).unprotect if ours else receiver.unprotect
            base = next(counter) * packets
            for i in range(packets):
                seq = (base + i) & 0xFFFF
                unprotect(protect(b"\x80\x60" + seq.to_bytes(2, "big") + _SRTP_REST))

        return run

    return factory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=20000, help="packets per run (<= 200000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per case (<= 20)")
    args = parser.parse_args()
    packets = max(1, min(args.packets, 200_000))
    repeat = max(1, min(args.repeat, 20))
    cases = [
        ("LegRewriter.rewrite", _rewrite_only),
        ("RtpHeaderWriter.build (mid + abs-send-time, 1.1 kB)", _build_only),
        ("rewrite + build", _rewrite_and_build),
        ("full leg: keyframe check, gate, rewrite, build, cache, stats", _full_leg),
        ("REMB estimator, receive side: aiortc's (with RateWindow)", _remb_aiortc),
        ("REMB estimator, receive side: ReceiveBandwidthEstimator", _remb_ours),
        ("parse a received packet: aiortc's RtpPacket.parse", _parse_aiortc),
        ("parse a received packet: parse_rtp", _parse_ours),
        ("SRTP protect + unprotect, 1.1 kB: pylibsrtp Session", _srtp_round_trip(False)),
        ("SRTP protect + unprotect, 1.1 kB: SrtpContext", _srtp_round_trip(True)),
    ]
    print(f"{packets} packets per run, best of {repeat}")
    for name, factory in cases:
        best = min(timeit.repeat(factory(packets), number=1, repeat=repeat))
        print(f"{best / packets * 1e9:8.0f} ns/packet  {name}")


if __name__ == "__main__":
    main()
