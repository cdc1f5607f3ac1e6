"""Micro-benchmark of the per-packet, per-subscriber work of the media plane.

Times LegRewriter.rewrite and RtpHeaderWriter.build (the two steps every forwarded packet
takes for every subscriber), alone and together with the rest of the leg's hot path (keyframe
gate, packet cache store, sender stats); and, once per received video packet, the REMB
bandwidth estimator: aiortc's (as the server hooks it, RateWindow inside) and ours, on a
30 fps stream of ~4 packets per frame (~100 packets/s), the first 3 s included. Bounded: a fixed number of packets, a few repeats,
well under a few seconds in total. Prints nanoseconds per packet (best of the repeats).

    .venv/bin/python benchmarks/packet_path.py [--packets N] [--repeat R]
"""

import argparse
import random
import timeit
from collections.abc import Callable

from aiortc.rate import RemoteBitrateEstimator

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

PAYLOAD = bytes([0x90, 0x80, 0x81, 0x23]) + bytes(1096)  # VP8 descriptor + 1.1 kB
SOURCE = 1


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
    ]
    print(f"{packets} packets per run, best of {repeat}")
    for name, factory in cases:
        best = min(timeit.repeat(factory(packets), number=1, repeat=repeat))
        print(f"{best / packets * 1e9:8.0f} ns/packet  {name}")


if __name__ == "__main__":
    main()
