"""The signalling WebSocket under hostile input (issue 13): each case failed before.

* a 50,000-level nested frame dropped the socket (RecursionError) instead of ``bad_json``;
* ``"v": true`` was taken for version 1; a ``candidate`` without its ``candidate`` passed;
* a malformed ICE candidate reached aiortc (``internal_error``, AssertionError logged) and
  one for an unknown ``sdpMid`` was silently accepted;
* refusals closed without a close frame (1006) and sent ``access_refused`` then ``error``;
* a second connection of the same identity left the first one connected and uninformed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
import pytest

from signalling.join_outcome import CLOSE_NORMAL, CLOSE_REFUSED
from tests.support.media import PatternVideoTrack
from tests.support.peer import TestPeer
from tests.support.server import RunningServer, running_server


async def still_alive(peer: TestPeer) -> None:
    reply = await peer.request({"type": "ping"}, expect=("pong",))
    assert reply["type"] == "pong"


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("frame", "code", "words"),
    [
        ("[" * 50_000 + "]" * 50_000, "bad_json", "the limit is 32"),
        ('{"v": 1, "type": "ping", "id": "x", "pad": ' + "[" * 40 + "]" * 40 + "}", "bad_json", "nested 41 levels"),
        ('{"v": 1, "type": "ping", "n": NaN}', "bad_json", "not valid JSON"),
        (json.dumps({"v": True, "type": "ping"}), "unsupported_version", "'v'"),
        (json.dumps({"v": 1.0, "type": "ping"}), "unsupported_version", "'v'"),
        (json.dumps({"v": 1, "type": "candidate", "pc": "publish"}), "missing_field", "'candidate'"),
        (json.dumps({"v": 1, "type": "candidate", "pc": "publish", "candidate": {"candidate": "candidate:1 1 udp"}}), "invalid_candidate", "RFC 8839"),
        (json.dumps({"v": 1, "type": "candidate", "pc": "publish", "candidate": {"candidate": "junk \u0000 junk"}}), "invalid_candidate", "not an ICE candidate"),
    ],
)
async def test_hostile_frames_get_named_errors(
    server: RunningServer, frame: str, code: str, words: str, caplog: pytest.LogCaptureFixture
) -> None:
    peer = TestPeer(server.ws_url, server.token("hard", "alice"), "alice")
    try:
        await peer.connect()
        n = len(peer.messages)
        await peer.send_raw(frame)
        err = await peer.next_message("error", after=n)
        assert err["code"] == code and words in err["message"], err
        await still_alive(peer)
        assert not tracebacks(caplog)
    finally:
        await peer.close()


async def test_candidates_during_publish_negotiation(server: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    peer = TestPeer(server.ws_url, server.token("hard", "alice"), "alice")
    try:
        await peer.connect()
        await peer.publish([(PatternVideoTrack(), "camera")])
        bad = [
            ({"candidate": "candidate:1 1 udp"}, "invalid_candidate"),
            ({"candidate": "candidate:1 1 udp 1 127.0.0.1 99999 typ host"}, "invalid_candidate"),
            ({"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host rport x"}, "invalid_candidate"),
            ({"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", "sdpMid": "7"}, "invalid_candidate"),
            ({"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", "sdpMLineIndex": 9}, "invalid_candidate"),
        ]
        for candidate, code in bad:
            reply = await peer.request({"type": "candidate", "pc": "publish", "candidate": candidate}, expect=("error",))
            assert reply["code"] == code, (candidate, reply)
        good = {"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host generation 0", "sdpMid": "0"}
        n = len(peer.errors)
        await peer.send({"type": "candidate", "pc": "publish", "candidate": good})
        await peer.send({"type": "candidate", "pc": "publish", "candidate": None})  # end of candidates
        await still_alive(peer)
        assert len(peer.errors) == n, peer.errors[n:]
        assert not [e for e in peer.errors if e["code"] == "internal_error"]
        assert not tracebacks(caplog)
    finally:
        await peer.close()


async def _refused_join(ws_url: str, token: str) -> tuple[list[dict[str, Any]], int | None]:
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url) as ws:
        await ws.send_str(json.dumps({"v": 1, "type": "join", "id": "j1", "token": token}))
        received: list[dict[str, Any]] = []
        async with asyncio.timeout(10):
            async for frame in ws:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    received.append(json.loads(frame.data))
        return received, ws.close_code


async def test_refusals_send_one_message_and_a_close_frame(server: RunningServer) -> None:
    tokens = ["not.a.token", server.token("r", "x", ttl_s=-10)] * 10
    for token in tokens:
        received, close_code = await _refused_join(server.ws_url, token)
        assert [m["type"] for m in received] == ["access_refused"], received
        assert received[0]["id"] == "j1" and received[0]["reason"] in ("invalid_token", "token_expired")
        assert close_code == CLOSE_REFUSED


async def test_newer_connection_of_an_identity_replaces_the_older(server: RunningServer) -> None:
    first = TestPeer(server.ws_url, server.token("dup", "alice"), "alice-tab-1")
    second = TestPeer(server.ws_url, server.token("dup", "alice"), "alice-tab-2")
    watcher = TestPeer(server.ws_url, server.token("dup", "bob"), "bob")
    try:
        await first.connect()
        await watcher.connect()
        old_id = first.joined["participant_id"]
        await second.connect()
        bye = await first.next_message("bye")
        assert bye["reason"] == "replaced"
        assert first._ws is not None
        for _ in range(100):
            if first._ws.closed:
                break
            await asyncio.sleep(0.05)
        assert first._ws.close_code == CLOSE_NORMAL
        left = await asyncio.wait_for(
            watcher.wait_for(lambda m: m["type"] == "participant_left" and m["participant_id"] == old_id), 10
        )
        assert left["reason"] == "replaced"
        assert server.media.gauges()["participants"] == 2  # bob and the newer alice
        await still_alive(second)
    finally:
        for peer in (first, second, watcher):
            await peer.close()



async def test_with_the_reconnect_grace_the_newer_connection_takes_the_session_over(tmp_path: Any) -> None:
    """The same rule with ``[session] reconnect_grace_s`` on: the older socket is told and closed."""
    async with running_server(tmp_path, session__reconnect_grace_s=30) as server:
        first = TestPeer(server.ws_url, server.token("dup", "alice"), "alice-tab-1")
        second = TestPeer(server.ws_url, server.token("dup", "alice"), "alice-tab-2")
        try:
            await first.connect()
            await second.connect()
            assert (await first.next_message("bye"))["reason"] == "replaced"
            assert first._ws is not None
            for _ in range(100):
                if first._ws.closed:
                    break
                await asyncio.sleep(0.05)
            assert first._ws.close_code == CLOSE_NORMAL
            assert second.joined["participant_id"] == first.joined["participant_id"]  # taken over
            await still_alive(second)
            assert server.media.gauges()["participants"] == 1
        finally:
            for peer in (first, second):
                await peer.close()
