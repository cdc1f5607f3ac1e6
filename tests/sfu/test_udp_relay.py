"""The impaired-link relay used by loss and adaptation tests: its timing core, and a real
datagram round trip through its asyncio shell on loopback."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.support.udp_relay import (
    LinkModel,
    LinkProfile,
    RtpTally,
    UdpRelay,
    is_rtp,
    rewrite_candidates,
)


def test_loss_is_seeded_and_near_its_rate():
    counts = []
    for _ in range(2):
        model = LinkModel(LinkProfile(loss=0.05), seed=4)
        counts.append(sum(model.on_datagram(100, i * 0.001) is None for i in range(10_000)))
    assert counts[0] == counts[1]
    assert 400 < counts[0] < 600


def test_jitter_reorders_and_stays_in_bounds():
    model = LinkModel(LinkProfile(delay=0.030, jitter=0.010), seed=1)
    leave = [model.on_datagram(100, i * 0.001) for i in range(1000)]
    assert all(t is not None and 0.020 <= t - i * 0.001 <= 0.040 for i, t in enumerate(leave))
    overtaken = sum(1 for a, b in itertools.pairwise(leave) if a is not None and b is not None and b < a)
    assert overtaken > 100  # 1 ms apart with +-10 ms: packets overtake each other


def test_rate_limit_serialises_and_drops_tail():
    model = LinkModel(LinkProfile(rate_bps=80_000, queue_bytes=3000), seed=0)
    # 1000 bytes take 0.1 s at 80 kbit/s; a queue of 3000 bytes holds 3 of them
    leave = [model.on_datagram(1000, 0.0) for _ in range(5)]
    assert leave[:3] == [pytest.approx(0.1), pytest.approx(0.2), pytest.approx(0.3)]
    assert leave[3:] == [None, None]
    assert model.counts.queue_drops == 2
    assert model.on_datagram(1000, 1.0) == pytest.approx(1.1)  # drained
    model.set_profile(LinkProfile())
    assert model.on_datagram(1000, 2.0) == 2.0


def test_handshakes_pass_unless_asked():
    assert LinkModel(LinkProfile(loss=1.0)).passes_unimpaired(0x00)  # STUN
    assert LinkModel(LinkProfile(loss=1.0)).passes_unimpaired(22)  # DTLS
    assert not LinkModel(LinkProfile(loss=1.0)).passes_unimpaired(0x80)  # RTP
    assert not LinkModel(LinkProfile(impair_handshake=True)).passes_unimpaired(0x00)


@pytest.mark.parametrize(
    "kwargs", [{"loss": 1.5}, {"delay": 0.01, "jitter": 0.02}, {"rate_bps": 0}, {"queue_bytes": 0}]
)
def test_bad_profiles(kwargs):
    with pytest.raises(ValueError):
        LinkProfile(**kwargs)


def _rtp(seq: int, ssrc: int = 7) -> bytes:
    return bytes([0x80, 96]) + seq.to_bytes(2, "big") + bytes(4) + ssrc.to_bytes(4, "big") + b"payload"


def test_rtp_tally_tells_repeats_of_lost_from_repeats_of_delivered():
    tally = RtpTally()
    tally.on_rtp(_rtp(1), delivered=False)  # lost
    tally.on_rtp(_rtp(2), delivered=True)
    tally.on_rtp(_rtp(1), delivered=True)  # the repair
    tally.on_rtp(_rtp(2), delivered=True)  # a resend of a packet that had arrived
    total = tally.total()
    assert (total.originals, total.repeats, total.dropped, total.repeats_of_delivered) == (2, 2, 1, 1)
    assert is_rtp(_rtp(1)) and not is_rtp(bytes([0x80, 200]) + bytes(10))


def test_rewrite_candidates_points_at_the_relay_and_refuses_other_hosts():
    sdp = "v=0\r\na=candidate:abc 1 udp 2130706431 127.0.0.1 40000 typ host\r\na=end-of-candidates\r\n"
    out, original = rewrite_candidates(sdp, ("127.0.0.1", 50000))
    assert original == ("127.0.0.1", 40000)
    assert "127.0.0.1 50000 typ host\r\n" in out
    with pytest.raises(ValueError, match="not on loopback"):
        rewrite_candidates(sdp.replace("127.0.0.1", "10.0.0.1"), ("127.0.0.1", 1))
    with pytest.raises(ValueError, match="no UDP host candidate"):
        rewrite_candidates("v=0\r\n", ("127.0.0.1", 1))


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        self.received.put_nowait((data, addr))


async def test_datagrams_cross_the_relay_both_ways_with_their_delay():
    loop = asyncio.get_running_loop()
    server_t, server = await loop.create_datagram_endpoint(_Endpoint, local_addr=("127.0.0.1", 0))
    client_t, client = await loop.create_datagram_endpoint(_Endpoint, local_addr=("127.0.0.1", 0))
    relay = UdpRelay(LinkProfile(delay=0.05))
    await relay.start()
    try:
        relay.server_addr = server_t.get_extra_info("sockname")[:2]
        client_t.sendto(b"\x00hello", relay.client_facing)  # STUN-like: unimpaired
        data, addr = await asyncio.wait_for(server.received.get(), 2)
        assert data == b"\x00hello" and addr == relay.server_facing
        start = loop.time()
        server_t.sendto(_rtp(5), relay.server_facing)  # RTP towards the client: delayed 50 ms
        data, addr = await asyncio.wait_for(client.received.get(), 2)
        assert data == _rtp(5) and addr == relay.client_facing
        assert loop.time() - start >= 0.045
        assert relay.down_rtp.total().originals == 1
    finally:
        relay.close()
        server_t.close()
        client_t.close()
