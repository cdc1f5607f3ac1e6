"""A Chromium subscriber (the room page, through the JS client) in a network namespace behind a
300 kbit/s link gets a smaller rendition at once and keeps a fluent picture and gapless audio;
the limit lifted, it gets the source back (issue 15). Checked with getStats.

The network, and which model of a narrow link it is:

* The test makes a network namespace (tests/reach/netns.py: a veth pair with a private /30, no
  default route, no IPv6) and runs Chromium in it (tests/browser/netns_chromium.py). The server
  runs in the test process and listens on the veth's host address, HTTP, WebSocket and ICE: the
  page loads from there and every server candidate is on the veth.
* The link is a drop-tail queue served at 300 kbit/s with 300 ms of buffer (a mobile link: delay
  grows, then loss), the model of tests/sfu/test_adaptation_ns.py. The kernel here has no queueing
  disciplines and nftables can only police, so the queue is the userspace relay of
  tests/support/rate_relay.py, run as a process of its own *inside the namespace*
  (tests/support/ns_rate_relay.py): the namespace's side of the link, with timing of its own.
* Only the subscribe connection goes through the relay: the page's WebSocket is routed by
  Playwright so that the server's ``subscribe_offer`` names the relay's peer side as the
  server's candidate and the page's subscribe ``answer`` and trickled ``candidate``s name the
  relay's server side as Chromium's. The page's publish connection (it sends its fake camera
  and microphone) goes straight over the veth: a subscriber's downlink is the link under test.
* nftables in the namespace holds the subscribe connection to the relay: once the offer names
  the server's media port, a datagram between that port and any namespace port but the relay's
  is dropped (and counted: the test asserts none was), in both directions.

The publisher is an aiortc peer in the test process sending a 640x480 / 30 fps camera (up to
900 kbit/s, issue 15's) and Opus at 32 kbit/s.

The bounds are the issue's, over 5 s from 2 s after the switch down, as in
tests/sfu/test_adaptation_ns.py; a padding probe up (sfu/packet/padding_probe.py) may fall in
that window, and what it costs counts. An unconstrained aiortc subscriber of the same camera (in
the test process) keeps 640x480. The limit lifted, the source is back within 15 s, each step up
after a padding probe (the test checks that one passed on the way). Measured on 2026-12-06,
21:03-21:04 UTC, in 3 runs in a row under the machine lock on the final code: <= 240 lines after
2.3-3.4 s, then 28.9-29.9 frames/s, no video packet lost, 50 audio packets/s with at least 20 in
every half second, nothing concealed, the unconstrained subscriber at 30.6-31.0 frames/s; 480
lines 6.5, 6.5 and 10.0 s after the lift (a padding probe failed during the limit in two of
them). Earlier the same evening, with probes padding 20 % over a rendition's need, one run of
four got 13 audio packets in a half second and 2.2 % concealed (a failed probe in the window).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import aioice.ice
import pytest
from playwright.async_api import WebSocketRoute

from control.tokens import join_url
from sfu.ids import ParticipantId
from tests.browser.engine_chromium import ChromiumPage
from tests.browser.netns_chromium import chromium_in_namespace
from tests.browser.pages import eventually, open_and_join
from tests.reach.netns import Namespace, namespace
from tests.sfu.test_adaptation import (  # noqa: F401  (autouse fixtures: VP8 <= 900 kbit/s, Opus at 32 kbit/s)
    camera_at_900_kbps,
    publish_camera_and_voice,
    voice_bitrate_opus,
)
from tests.support.ns_rate_relay import RelayProcess, relay_in_namespace
from tests.support.peer import Received, TestPeer
from tests.support.rate_relay import point_candidates
from tests.support.server import RunningServer, running_server

pytestmark = [pytest.mark.browser, pytest.mark.serial, pytest.mark.long, pytest.mark.timeout(180)]

#: The relay's two ports in the namespace (a fresh namespace: nothing else has them).
RELAY_PEER_PORT, RELAY_SERVER_PORT = 20001, 20002

STATS_JS = """
async () => {
  const pc = window.consult.client && window.consult.client.pcs.subscribe;
  if (!pc) return {};
  const out = {};
  (await pc.getStats()).forEach((s) => {
    if (s.type !== 'inbound-rtp') return;
    const prev = out[s.kind];
    if (s.kind === 'video' && prev && (prev.framesDecoded || 0) >= (s.framesDecoded || 0)) return;
    out[s.kind] = {framesDecoded: s.framesDecoded || 0, frameHeight: s.frameHeight || 0,
                   packetsReceived: s.packetsReceived || 0, packetsLost: s.packetsLost || 0,
                   concealedSamples: s.concealedSamples || 0, totalSamplesReceived: s.totalSamplesReceived || 0,
                   concealmentEvents: s.concealmentEvents || 0, freezeCount: s.freezeCount || 0,
                   nackCount: s.nackCount || 0, pliCount: s.pliCount || 0};
  });
  return out;
}
"""


def _rules(server: str, peer: str) -> str:
    return f"""table inet link {{
  set subscribe_ports {{ type inet_service; }}
  chain in {{
    type filter hook input priority 0;
    ip saddr {server} udp sport @subscribe_ports udp dport != {RELAY_SERVER_PORT} counter drop
  }}
  chain out {{
    type filter hook output priority 0;
    ip daddr {server} udp dport @subscribe_ports udp sport != {RELAY_SERVER_PORT} counter drop
  }}
}}
"""


def _nft(ns: Namespace, *args: str) -> str:
    out = subprocess.run(["ip", "netns", "exec", ns.name, "nft", *args], check=True, capture_output=True, text=True, timeout=10)
    return out.stdout


def _bypassing(ns: Namespace) -> int:
    """Datagrams of the subscribe connection the namespace's rules dropped (not via the relay)."""
    listing = _nft(ns, "list", "table", "inet", "link")
    assert "elements = {" in listing, f"the rules never learnt the server's media port: {listing}"
    return sum(int(line.split("counter packets ")[1].split()[0]) for line in listing.splitlines() if "counter packets " in line)


def _through_relay(ns: Namespace, relay: RelayProcess) -> Any:
    """A Playwright WebSocket route handler that puts the subscribe connection behind ``relay``."""
    ports: set[int] = set()
    sends: set[asyncio.Task[None]] = set()  # held until done (the loop keeps only weak references)

    def to_page(message: str | bytes) -> str | bytes | None:
        if isinstance(message, bytes):
            return message
        msg = json.loads(message)
        if msg.get("type") == "subscribe_offer":
            server, msg["sdp"] = point_candidates(msg["sdp"], ns.server, (ns.peer, RELAY_PEER_PORT))
            assert server is not None, "the server offered no UDP host candidate on the veth"
            if server[1] not in ports:
                # Before the page sees the offer (a blocking call of a few ms): from then on the
                # connection's datagrams cross the namespace's boundary only at the relay.
                _nft(ns, "add", "element", "inet", "link", "subscribe_ports", f"{{ {server[1]} }}")
                ports.add(server[1])
                task = asyncio.get_running_loop().create_task(relay.send({"server": list(server)}))
                sends.add(task)
                task.add_done_callback(sends.discard)
            return json.dumps(msg)
        if msg.get("type") == "candidate" and msg.get("pc") == "subscribe" and msg.get("candidate"):
            return None  # the server's own address: only the relay's, from the offer
        return message

    def to_server(message: str | bytes) -> str | bytes | None:
        if isinstance(message, bytes):
            return message
        msg = json.loads(message)
        if msg.get("type") == "answer" and msg.get("pc") == "subscribe":
            _, msg["sdp"] = point_candidates(msg["sdp"], ns.peer, (ns.peer, RELAY_SERVER_PORT))
            return json.dumps(msg)
        if msg.get("type") == "candidate" and msg.get("pc") == "subscribe" and msg.get("candidate"):
            fields = msg["candidate"]["candidate"].split()
            # candidate:F 1 udp PRIO ADDRESS PORT typ host ...: only the veth's UDP host one,
            # pointing at the relay's server side
            if len(fields) < 8 or fields[2].lower() != "udp" or fields[4] != ns.peer or fields[7] != "host":
                return None
            fields[5] = str(RELAY_SERVER_PORT)
            msg["candidate"]["candidate"] = " ".join(fields)
            return json.dumps(msg)
        return message

    async def handler(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def up(message: str | bytes) -> None:
            out = to_server(message)
            if out is not None:
                server.send(out)

        def down(message: str | bytes) -> None:
            out = to_page(message)
            if out is not None:
                ws.send(out)

        ws.on_message(up)
        server.on_message(down)

    return handler


def _link(server: RunningServer, participant_id: str) -> dict[str, Any]:
    """The server's view of the participant's subscribe link (estimate, chosen legs)."""
    for room in server.media.rooms.values():
        participant = room.participants.get(ParticipantId(participant_id))
        if participant is not None:
            return dict(participant.link.dump(time.monotonic()))
    return {}


async def test_a_chromium_subscriber_in_a_namespace_behind_a_narrow_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    room = "adapt-chromium"
    with namespace(_rules) as ns:
        # The publisher (in this process) gathers on the veth's host address only.
        monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4=True, use_ipv6=True: [ns.server])
        async with (
            running_server(tmp_path, host=ns.server, ice__host_addresses=[ns.server]) as server,
            relay_in_namespace(ns.name, ns.peer, RELAY_PEER_PORT, RELAY_SERVER_PORT) as relay,
            chromium_in_namespace(ns.name, tmp_path, server.http_url) as chromium,
        ):
            pub = TestPeer(server.ws_url, server.token(room, "pub"), "pub")
            free = TestPeer(server.ws_url, server.token(room, "free"), "free")  # unconstrained
            try:
                pid = await publish_camera_and_voice(pub)
                await free.connect()
                free_video = await free.wait_frames(pid, "video", 30, timeout=30)
                page = await chromium.new_page()
                assert isinstance(page, ChromiumPage)
                await page.page.route_web_socket("**/ws", _through_relay(ns, relay))
                await open_and_join(page, join_url(server.http_url, room, server.token(room, "pat", name="Pat")))
                pat = str(await page.evaluate("() => window.consult.client.self.participant_id"))
                trace: list[tuple[Any, ...]] = []
                tracer = asyncio.create_task(_trace(server, relay, pat, trace))
                try:
                    await _check(page, server, ns, relay, pat, free_video)
                finally:
                    tracer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await tracer
                    # The server's view every 0.5 s: (s, link rate kbit/s, estimate, REMB, loss, leg)
                    print(f"trace: {trace}")
            finally:
                await free.close()
                await pub.close()


async def _trace(server: RunningServer, relay: RelayProcess, participant_id: str, into: list[tuple[Any, ...]]) -> None:
    start = time.monotonic()
    while True:
        link = _link(server, participant_id)
        rate = relay.counters.get("rate")
        legs = list(dict(link.get("legs", {})).values())
        into.append((
            round(time.monotonic() - start, 1),
            None if rate is None else round(rate / 1000),
            round(link["estimate_bps"] / 1000) if link.get("estimate_bps") else None,
            round(link["remb_bps"] / 1000) if link.get("remb_bps") else None,
            link.get("last_loss"),
            legs[0] if legs else None,
        ))
        await asyncio.sleep(0.5)


async def _check(
    page: ChromiumPage, server: RunningServer, ns: Namespace, relay: RelayProcess, pat: str, free: Received
) -> None:
    async def stats() -> dict[str, Any]:
        return dict(await page.evaluate(STATS_JS))

    async def height() -> int:
        return int((await stats()).get("video", {}).get("frameHeight", 0))

    async def full_size() -> bool:
        s = await stats()
        return s.get("video", {}).get("frameHeight") == 480 and s.get("audio", {}).get("packetsReceived", 0) > 50

    try:
        await eventually(full_size, 45, "Chromium decoding the 640x480 camera (and hearing) through the relay")
    except AssertionError as exc:
        ice = await page.evaluate("() => window.consult.client.pcs.subscribe?.iceConnectionState")
        raise AssertionError(f"{exc}; relay {relay.counters}, subscribe ICE {ice}, stats {await stats()}") from None
    assert relay.counters["bytes_to_peer"] > 0  # the media did cross the relay
    publish_ice = await page.evaluate("() => window.consult.client.pcs.publish?.iceConnectionState")
    assert publish_ice in ("connected", "completed"), publish_ice  # the page's own camera: not held back

    # The limit. The ladder's steps below 640x480 are 480x360, 320x240, 240x180 and 120x90:
    # which fits depends on the estimate from Chromium's REMB and loss (320x240, or a smaller one
    # when the estimate fell further), so the check is "a server rendition, 240 lines at most".
    await relay.set_rate(300_000)
    start = time.monotonic()
    await eventually(lambda: _smaller(height), 20, "Chromium receiving a rendition of at most 240 lines", interval_s=0.1)
    took_down = time.monotonic() - start
    print(f"behind 300 kbit/s: <= 240 lines after {took_down:.1f} s; server link {_link(server, pat)}")
    # Every figure is measured before any is judged, so a failing run still reports them all.
    failed: list[str] = []
    if took_down > 5.0:
        failed.append(f"{took_down:.1f} s to a picture of at most 240 lines (issue 15: within 5 s)")

    await asyncio.sleep(2)  # what the link's queue held when the switch was made
    free_frames = free.frames
    window = await _window(stats, relay, 5.0)
    window["free_fps"] = round((free.frames - free_frames) / 5.0, 1)
    window["free_size"] = free.sizes[-1]
    print(f"behind 300 kbit/s, over 5 s: {window}; server link {_link(server, pat)}")
    heights = window["heights"]
    # The smaller picture flowing, over 5 s from 2 s after the switch down, as in
    # tests/sfu/test_adaptation_ns.py. A padding probe up (480x360, once the leg has had 5 s of
    # headroom) may fall in it: allowed (issue 15: "up after 5-10 s of headroom with a probe"),
    # and what it costs counts in the figures.
    checks = {
        "a picture all along": all(h > 0 for h in heights),
        ">= 20 frames/s decoded": window["fps"] >= 20,
        "<= 2 % of video packets lost": window["loss"] <= 0.02,
        # Audio without a gap: Opus sends 50 packets/s; every half second brings at least 15
        # of them (the queue delivers in bunches), and the receiver conceals under 2 % of it.
        ">= 45 audio packets/s": window["audio_packets_per_s"] >= 45,
        ">= 15 audio packets in every half second": window["audio_fewest_per_half_s"] >= 15,
        "<= 2 % of audio samples concealed": window["audio_concealed"] <= 0.02,
        "the unconstrained subscriber keeps the source at >= 20 frames/s": (
            window["free_size"] == (640, 480) and window["free_fps"] >= 20
        ),
    }
    failed += [f"{what}: {window}" for what, ok in checks.items() if not ok]

    # The limit lifted: the source back within 15 s (issue 15), each step up after a padding
    # probe (a failed one bars its picture for 3-6 s; the bar left at the lift is printed).
    before = _link(server, pat)
    barred = max(dict(before.get("probe_barred_s", {})).values(), default=0.0)
    allowed = 15.0
    await relay.set_rate(None)
    start = time.monotonic()
    trail: list[tuple[float, int]] = []

    async def source() -> bool:
        h = await height()
        if not trail or trail[-1][1] != h:
            trail.append((round(time.monotonic() - start, 1), h))
        return h == 480

    try:
        await eventually(source, allowed + 10, "Chromium receiving the 640x480 source again", interval_s=0.2)
        took_up = time.monotonic() - start
    except AssertionError:
        took_up = float("inf")
    print(
        f"limit lifted ({barred:.1f} s of a padding probe's bar left): 480 lines after {took_up:.1f} s"
        f" (heights {trail}); server link {_link(server, pat)}"
    )
    if took_up > allowed:
        failed.append(f"{took_up:.1f} s back to the source (within {allowed:.0f} s); heights {trail}")
    if _link(server, pat)["probes_passed"] <= before["probes_passed"]:
        failed.append("no padding probe passed on the way back up")
    assert _bypassing(ns) == 0, "datagrams of the subscribe connection tried to pass beside the relay"
    assert not failed, "\n".join(failed)


async def _smaller(height: Any) -> bool:
    return 0 < await height() <= 240


async def _window(stats: Any, relay: RelayProcess, seconds: float) -> dict[str, Any]:
    """Over ``seconds``, sampled every 0.5 s: the picture's height, frames decoded per second,
    the video packets lost (getStats: lost / (received + lost)), audio packets per second and
    the fewest in any half second, the share of audio samples concealed, and the relay's drops."""
    first, relay0 = await stats(), dict(relay.counters)
    heights: list[int] = []
    fewest, last, t0 = 1_000_000, first["audio"]["packetsReceived"], time.monotonic()
    for _ in range(round(seconds / 0.5)):
        await asyncio.sleep(0.5)
        now = await stats()
        heights.append(now["video"]["frameHeight"])
        fewest, last = min(fewest, now["audio"]["packetsReceived"] - last), now["audio"]["packetsReceived"]
    elapsed = time.monotonic() - t0
    end, relay1 = now, dict(relay.counters)

    def delta(kind: str, key: str) -> int:
        return int(end[kind][key] - first[kind][key])

    received, lost = delta("video", "packetsReceived"), delta("video", "packetsLost")
    offered = relay1["passed"] - relay0["passed"] + relay1["dropped"] - relay0["dropped"]
    return {
        "heights": heights,
        "fps": round(delta("video", "framesDecoded") / elapsed, 1),
        "loss": round(lost / max(1, received + lost), 4),
        "link_drops": round((relay1["dropped"] - relay0["dropped"]) / max(1, offered), 4),
        "kbit_s": round((relay1["bytes_to_peer"] - relay0["bytes_to_peer"]) * 8 / elapsed / 1000),
        "audio_packets_per_s": round(delta("audio", "packetsReceived") / elapsed, 1),
        "audio_fewest_per_half_s": fewest,
        "audio_concealed": round(delta("audio", "concealedSamples") / max(1, delta("audio", "totalSamplesReceived")), 4),
        "audio_concealment_events": delta("audio", "concealmentEvents"),
        "freezes": delta("video", "freezeCount"),
        "nacks": delta("video", "nackCount"),
        "plis": delta("video", "pliCount"),
    }
