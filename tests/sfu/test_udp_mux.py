"""One UDP port (``ice.udp_port``): every ICE connection of the server on one socket.

Real aiortc peers on loopback. Media must reach exactly the right legs (the demultiplexer
routes by ICE ufrag, then by remote address), the server must hold one UDP socket for ICE,
and closing the connections must leave the table empty. Breaking the demultiplexer (e.g.
routing every address to the first connection) fails these tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sfu.aiortc_hooks.udp_mux import UdpMux
from sfu.udp_demux import DROP_REASONS
from tests.support.media import PatternVideoTrack, ToneAudioTrack
from tests.support.peer import TestPeer
from tests.support.server import RunningServer, running_server

pytestmark = pytest.mark.serial


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def udp_inodes(pid: int) -> set[str]:
    """Socket inodes the process holds open."""
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                out.add(target[len("socket:[") : -1])
    return out


def udp_sockets_on(port: int, inodes: set[str]) -> list[str]:
    """Lines of /proc/net/udp for sockets bound on 127.0.0.1:``port`` among ``inodes``."""
    found = []
    with open("/proc/net/udp") as f:
        for line in list(f)[1:]:
            fields = line.split()
            local, inode = fields[1], fields[9]
            if local == f"0100007F:{port:04X}" and inode in inodes:
                found.append(line)
    return found


@contextlib.asynccontextmanager
async def one_port_server(tmp_path: Any, port: int) -> AsyncIterator[RunningServer]:
    async with running_server(tmp_path, ice__udp_port=port, sfu__adaptation=False) as server:
        yield server


def mux_of(server: RunningServer) -> UdpMux:
    mux = server.media.udp_mux
    assert mux is not None
    return mux


async def until(predicate: Any, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_two_participants_through_one_port(tmp_path: Any) -> None:
    port = free_udp_port()
    async with one_port_server(tmp_path, port) as server:
        a = TestPeer(server.ws_url, server.token("r", "a"), "a")
        b = TestPeer(server.ws_url, server.token("r", "b"), "b")
        try:
            for p in (a, b):
                await p.connect()
                await p.publish([(PatternVideoTrack(160, 120, 15), "camera"), (ToneAudioTrack(), "microphone")])
            assert a.joined is not None and b.joined is not None
            await a.wait_frames(b.joined["participant_id"], "video", 5, timeout=30)
            await b.wait_frames(a.joined["participant_id"], "video", 5, timeout=30)
            assert mux_of(server).sizes()["connections"] == 4
            metrics = await server.metrics()
            assert metrics["consult_sfu_udp_port_connections"] == 4 and metrics["consult_sfu_udp_port_addresses"] >= 4
        finally:
            await a.close()
            await b.close()
        await until(lambda: mux_of(server).sizes() == {"connections": 0, "addresses": 0, "checks": 0}, 20, "an empty table")


@pytest.mark.long
async def test_ten_participants_in_three_rooms_through_one_port(tmp_path: Any) -> None:
    port = free_udp_port()
    rooms = {"r1": ["a1", "a2", "a3", "a4"], "r2": ["b1", "b2", "b3"], "r3": ["c1", "c2", "c3"]}
    async with one_port_server(tmp_path, port) as server:
        peers = {name: TestPeer(server.ws_url, server.token(room, name), name) for room, names in rooms.items() for name in names}
        try:
            for peer in peers.values():
                await peer.connect()
                await peer.publish([(PatternVideoTrack(160, 120, 10), "camera"), (ToneAudioTrack(), "microphone")])
            ids = {name: p.joined["participant_id"] for name, p in peers.items() if p.joined is not None}
            for names in rooms.values():
                for name in names:
                    for other in names:
                        if other != name:
                            await peers[name].wait_frames(ids[other], "video", 5, timeout=60)
                            await peers[name].wait_frames(ids[other], "audio", 5, timeout=60)
            # exactly the right senders: each peer's received streams are its room's others, nobody else's
            for names in rooms.values():
                for name in names:
                    senders = {rec.participant_id for rec in peers[name].received.values() if rec.frames > 0}
                    assert senders == {ids[o] for o in names if o != name}, name
            mux = mux_of(server)
            assert mux.sizes()["connections"] == 2 * len(peers)
            assert sum(mux.dropped().values()) == 0
            # one UDP socket for ICE: the only UDP socket of this process on the port, and no
            # other UDP socket of the server's connections (each peer connection has its own)
            assert udp_sockets_on(port, udp_inodes(os.getpid())) and len(udp_sockets_on(port, udp_inodes(os.getpid()))) == 1
            for room in server.media.rooms.values():
                for participant in room.participants.values():
                    for pc in (participant._publish_pc, participant._subscribe_pc):
                        assert pc is not None
                        for transceiver in pc.getTransceivers():
                            connection = transceiver.receiver.transport.transport.iceGatherer._connection
                            assert {c.port for c in connection.local_candidates} == {port}
        finally:
            for peer in peers.values():
                await peer.close()
        await until(lambda: mux_of(server).sizes() == {"connections": 0, "addresses": 0, "checks": 0}, 30, "an empty table")


async def test_bad_datagrams_are_dropped_and_counted(tmp_path: Any) -> None:
    port = free_udp_port()
    async with one_port_server(tmp_path, port) as server:
        a = TestPeer(server.ws_url, server.token("bad", "a"), "a")
        b = TestPeer(server.ws_url, server.token("bad", "b"), "b")
        junk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            await a.connect()
            await a.publish([(PatternVideoTrack(160, 120, 15), "camera")])
            stun_header = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + b"x" * 12
            username = b"\x00\x06\x00\x09nobody:me\x00\x00\x00"
            datagrams = [
                b"", b"\x00", b"\x80" + b"\x00" * 30, b"\x16\xfe\xfd" + b"\x00" * 40,  # empty, short, RTP, DTLS
                stun_header,  # a binding request without USERNAME
                b"\x00\x01\x00\x10\x21\x12\xa4\x42" + b"y" * 12 + username,  # unknown ufrag
                b"\x01\x01\x00\x00\x21\x12\xa4\x42" + b"z" * 12,  # a response nobody waits for
                b"\x00\x01\xff\xff\x21\x12\xa4\x42" + b"w" * 12 + b"\x00\x06\xff\xff",  # lengths beyond the end
            ]
            for _ in range(20):
                for datagram in datagrams:
                    junk.sendto(datagram, ("127.0.0.1", port))
            await asyncio.sleep(0.3)
            dropped = mux_of(server).dropped()
            assert dropped["unknown_address"] >= 20 * 4 and dropped["unknown_ufrag"] == 20 and dropped["malformed"] >= 20 * 2
            # the same figures on /metrics, one counter per reason (sfu.udp_demux.DROP_REASONS)
            metrics = await server.metrics()
            assert {k for k in metrics if k.startswith("consult_sfu_udp_port_datagrams_dropped_")} == {
                f"consult_sfu_udp_port_datagrams_dropped_{reason}_total" for reason in DROP_REASONS
            }
            for reason in DROP_REASONS:
                assert metrics[f"consult_sfu_udp_port_datagrams_dropped_{reason}_total"] == dropped[reason], reason
            assert metrics["consult_sfu_udp_port_connections"] == mux_of(server).sizes()["connections"] >= 1  # a publishes
            # and media still flows, for a connection made after the junk
            await b.connect()
            await b.publish([(PatternVideoTrack(160, 120, 15), "camera")])
            assert a.joined is not None
            await b.wait_frames(a.joined["participant_id"], "video", 5, timeout=30)
        finally:
            junk.close()
            await a.close()
            await b.close()


async def test_a_port_in_use_is_a_clear_error(tmp_path: Any) -> None:
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    try:
        from control.config import ConfigError

        with pytest.raises(ConfigError, match=r"ice.udp_port: cannot bind UDP 127.0.0.1 port"):
            async with running_server(tmp_path, ice__udp_port=taken.getsockname()[1]):
                pass
    finally:
        taken.close()


async def test_a_burst_is_read_in_few_loop_iterations(tmp_path: Any) -> None:
    """One socket carries every connection: a burst must not wait one loop iteration per datagram.

    asyncio's selector loop reads one datagram per readiness event; under CPU load (codec
    threads holding the GIL at every epoll wait) that fell behind the datagrams of ten
    participants until consent checks timed out and the connections closed (make test in CI).
    """
    port = free_udp_port()
    burst = 1000
    async with one_port_server(tmp_path, port) as server:
        a = TestPeer(server.ws_url, server.token("burst", "a"), "a")
        junk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            await a.connect()  # the shared socket opens with the first connection
            await a.publish([(ToneAudioTrack(), "microphone")])
            before = mux_of(server).dropped()["unknown_address"]
            for _ in range(burst):  # queued in the kernel before the loop runs again
                junk.sendto(b"\x80" + b"\x00" * 99, ("127.0.0.1", port))  # RTP from an unknown address
            iterations = burst // 32 + 30
            for _ in range(iterations):
                await asyncio.sleep(0)  # one loop iteration each
            read = mux_of(server).dropped()["unknown_address"] - before
            assert read == burst, f"{read} of {burst} datagrams read in {iterations} loop iterations"
        finally:
            junk.close()
            await a.close()
